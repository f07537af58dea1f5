package config

import (
	"slices"
	"strings"
)

// keepalivedKeywords are the keywords keepalived 2.2.7 documents in a block
// (man keepalived.conf): docs/keepalived.md's table rows, which
// TestKeepalivedKeywordListsCoverTheTable keeps this list in step with, and
// the blocks the table has no rows of their own for. A block's statement
// that xlb does not read is refused either way; these tell an unsupported
// keepalived keyword from a typo, and name the keyword a typo most likely
// meant. A checker's section ("TCP_CHECK", …) holds its
// own keywords; those every checker shares are under "checker". nil: no
// list for that block.
func keepalivedKeywords(block string) []string {
	switch block {
	case "top":
		return []string{
			// The blocks themselves, which the table has no rows for.
			"global_defs", "vrrp_instance", "vrrp_sync_group", "vrrp_script", "track_file", "vrrp_track_file",
			"vrrp_track_process", "virtual_server", "virtual_server_group", "include",
			"net_namespace", "net_namespace_ipvs", "namespace_with_ipsets", "instance", "use_pid_dir",
			"linkbeat_use_polling", "child_wait_time", "linkbeat_interfaces", "track_group",
			"static_ipaddress", "static_routes", "static_rules", "bfd_instance", "garp_group",
			"interface_up_down_delays", "SSL",
		}
	case "global_defs":
		return []string{
			"tmp_config_directory", "config_save_dir", "process_names", "process_name", "vrrp_process_name",
			"checker_process_name", "bfd_process_name", "startup_script", "startup_script_timeout",
			"shutdown_script", "shutdown_script_timeout", "notification_email", "notification_email_from",
			"smtp_server", "smtp_helo_name", "smtp_connect_timeout", "smtp_alert", "smtp_alert_vrrp",
			"smtp_alert_checker", "checker_log_all_failures", "no_email_faults", "router_id",
			"vrrp_mcast_group4", "vrrp_mcast_group6", "default_interface", "lvs_sync_daemon", "lvs_timeouts",
			"lvs_flush", "lvs_flush_on_stop", "vrrp_garp_master_delay", "vrrp_garp_master_repeat",
			"vrrp_garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat", "vrrp_down_timer_adverts",
			"vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_garp_interval",
			"vrrp_gna_interval", "vrrp_min_garp", "vrrp_garp_extra_if", "vrrp_lower_prio_no_advert",
			"vrrp_higher_prio_send_advert", "vrrp_version", "nftables", "nftables_priority",
			"nftables_counters", "nftables_ifindex", "nftables_ipvs", "nftables_ipvs_priority",
			"nftables_ipvs_start_fwmark", "vrrp_iptables", "vrrp_ipsets", "disable_local_igmp",
			"vrrp_check_unicast_src", "vrrp_skip_check_adv_addr", "vrrp_strict",
			"vrrp_notify_priority_changes", "max_auto_priority", "min_auto_priority_delay", "vrrp_priority",
			"checker_priority", "bfd_priority", "vrrp_no_swap", "checker_no_swap", "bfd_no_swap",
			"vrrp_cpu_affinity", "checker_cpu_affinity", "bfd_cpu_affinity", "vrrp_rt_priority",
			"checker_rt_priority", "bfd_rt_priority", "vrrp_rlimit_rttime", "checker_rlimit_rttime",
			"bfd_rlimit_rttime", "snmp_socket", "enable_snmp_vrrp", "enable_snmp_checker", "enable_snmp_rfc",
			"enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_traps", "enable_dbus", "dbus_service_name",
			"script_user", "enable_script_security", "notify_fifo", "notify_fifo_script", "vrrp_notify_fifo",
			"vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script",
			"fifo_write_vrrp_states_on_reload", "dynamic_interfaces", "vrrp_netlink_cmd_rcv_bufs",
			"vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs",
			"vrrp_netlink_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs",
			"lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs",
			"lvs_netlink_monitor_rcv_bufs_force", "process_monitor_rcv_bufs",
			"process_monitor_rcv_bufs_force", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier",
			"rs_init_notifies", "no_checker_emails", "umask", "vrrp_startup_delay", "log_unknown_vrids",
			"vmac_prefix", "vmac_addr_prefix", "random_seed", "reload_check_config", "include_check",
			"reload_time_file", "reload_repeat", "reload_file", "data_use_instance",
		}
	case "vrrp_instance":
		return []string{
			"state", "interface", "vrf", "use_vmac", "use_vmac_addr", "vmac_xmit_base", "use_ipvlan",
			"native_ipv6", "dont_track_primary", "track_interface", "track_script", "track_file",
			"track_process", "track_bfd", "mcast_src_ip", "unicast_src_ip", "mcast_dst_ip", "track_src_ip",
			"version", "vrrp_version", "check_unicast_src", "unicast_peer", "unicast_fault_no_peer",
			"unicast_ttl", "old_unicast_checksum", "garp_master_delay", "garp_master_repeat",
			"garp_lower_prio_delay", "garp_lower_prio_repeat", "garp_master_refresh",
			"garp_master_refresh_repeat", "garp_extra_if", "down_timer_adverts", "lower_prio_no_advert",
			"higher_prio_send_advert", "virtual_router_id", "priority", "advert_int", "authentication",
			"virtual_ipaddress", "virtual_ipaddress_excluded", "promote_secondaries", "virtual_routes",
			"virtual_rules", "accept", "no_accept", "nopreempt", "preempt", "preempt_delay",
			"skip_check_adv_addr", "strict_mode", "debug", "notify_master", "notify_backup", "notify_fault",
			"notify_stop", "notify_deleted", "notify", "notify_master_rx_lower_pri",
			"notify_priority_changes", "smtp_alert", "kernel_rx_buf_size", "linkbeat_use_polling",
			"lvs_sync_daemon_interface",
		}
	case "vrrp_sync_group":
		return []string{
			"group", "track_interface", "track_script", "track_file", "track_process", "track_bfd",
			"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify_deleted", "notify",
			"notify_priority_changes", "smtp_alert", "global_tracking", "sync_group_tracking_weight",
		}
	case "vrrp_script":
		return []string{
			"script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail",
		}
	case "track_file":
		return []string{
			"file", "weight", "init_file",
		}
	case "vrrp_track_process":
		return []string{
			"process", "param_match", "weight", "quorum", "quorum_max", "fork_delay", "terminate_delay",
			"delay", "full_command",
		}
	case "virtual_server":
		return []string{
			"real_server",
			"lvs_sched", "lb_algo", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port",
			"mh-fallback", "ops", "lvs_method", "lb_kind", "persistence_engine", "persistence_timeout",
			"persistence_granularity", "protocol", "ha_suspend", "smtp_alert", "virtualhost", "snmp_name",
			"alpha", "omega", "quorum", "hysteresis", "quorum_up", "quorum_down", "ip_family",
			"sorry_server", "sorry_server_inhibit", "sorry_server_lvs_method", "connect_timeout", "retry",
			"nb_get_retry", "delay_before_retry", "warmup", "delay_loop", "inhibit_on_failure",
		}
	case "real_server":
		return []string{
			// The checkers, whose sections list their own keywords.
			"TCP_CHECK", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "PING_CHECK", "UDP_CHECK",
			"FILE_CHECK",
			"weight", "lvs_method", "notify_up", "notify_down", "uthreshold", "lthreshold", "smtp_alert",
			"virtualhost", "snmp_name", "alpha", "connect_timeout", "retry", "delay_before_retry", "warmup",
			"delay_loop", "inhibit_on_failure", "HTTP_GET", "BFD_CHECK",
		}
	case "checker":
		return []string{
			"connect_ip", "connect_port", "bindto", "bind_if", "bind_port", "fwmark", "alpha",
			"connect_timeout", "retry", "nb_get_retry", "delay_before_retry", "warmup", "delay_loop",
			"log_all_failures",
		}
	case "HTTP_GET":
		return []string{
			"http_protocol", "fast_recovery", "virtualhost", "url",
		}
	case "SSL_GET":
		return []string{
			"enable_sni", "virtualhost",
		}
	case "url":
		return []string{
			"path", "digest", "status_code", "virtualhost", "regex", "regex_no_match", "regex_options",
			"regex_stack", "regex_min_offset", "regex_max_offset",
		}
	case "MISC_CHECK":
		return []string{
			"misc_path", "misc_timeout", "misc_dynamic", "user",
		}
	case "SMTP_CHECK":
		return []string{
			"helo_name", "host",
		}
	case "DNS_CHECK":
		return []string{
			"type", "name",
		}
	case "PING_CHECK":
		return []string{
			"connect_port", "bind_port",
		}
	case "UDP_CHECK":
		return []string{
			"payload", "require_reply", "min_reply_length", "max_reply_length",
		}
	case "FILE_CHECK":
		return []string{
			"track_file", "weight", "dynamic",
		}
	}
	return nil
}

// checkerKeywords are a checker section's keywords: its own and those every
// checker shares.
func checkerKeywords(section string) []string {
	own := keepalivedKeywords(section)
	if own == nil && section != "TCP_CHECK" {
		return nil
	}
	return append(own, keepalivedKeywords("checker")...)
}

// closestKeyword is the keyword of known a mistyped word most likely meant:
// the nearest within two edits (a letter added, dropped, changed, or two
// swapped; case ignored), and nearer than half the word's length, so that
// short words do not get far-fetched advice. "" when none is that close.
func closestKeyword(word string, known []string) string {
	best, bestDist := "", 3
	lw := strings.ToLower(word)
	for _, k := range known {
		if k == word {
			continue
		}
		if d := editDistance(lw, strings.ToLower(k)); d < bestDist && 2*d < len(word) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and transpositions of neighbours.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// keepalivedBlocks are the blocks keepalivedKeywords has lists for.
func keepalivedBlocks() []string {
	return []string{"top", "global_defs", "vrrp_instance", "vrrp_sync_group", "vrrp_script", "track_file",
		"vrrp_track_process", "virtual_server", "real_server", "checker", "TCP_CHECK", "HTTP_GET", "SSL_GET",
		"url", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "PING_CHECK", "UDP_CHECK", "FILE_CHECK"}
}

// blocksOf are the blocks where keepalived documents word: a keyword put in
// the wrong block is better told where it belongs than called unknown.
func blocksOf(word string) []string {
	var in []string
	for _, b := range keepalivedBlocks() {
		if slices.Contains(keepalivedKeywords(b), word) {
			if b == "checker" {
				b = "every checker"
			}
			in = append(in, b)
		}
	}
	return in
}
