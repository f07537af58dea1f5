// Package bpf holds the XDP datapath: the C sources and the Go bindings
// bpf2go generates from them. The generated files are committed so building
// xlb needs no C compiler; `make generate` rebuilds them.
package bpf

//go:generate go tool bpf2go -cc clang -target bpfel -no-strip=false -type svc_key -type svc_val -type svc_entry -type svc_filter -type settings -type guard_state -type clock_ref -type frag_key -type flow_event -type flow_event6 -type settings_flags -type backend -type backend_conns -type backend_limits -type backend_stats -type svc_state -type conn_key4 -type conn_key6 -type persist_key6 -type conn_val -type flow4 -type flow_bucket4 -type conn_op -type conn_op_kind -type conn_op_result -type persist_key4 -type persist_val -type abi_info -type stat_counter -type sched_kind -type svc_flags -type backend_flags -type conn_state Xlb xlb.c -- -O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu
