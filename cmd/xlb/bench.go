package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"time"

	"github.com/xlb-project/xlb/maps"

	"github.com/spf13/cobra"
	"github.com/xlb-project/xlb/bench/dpcost"
	"golang.org/x/sys/unix"
)

// benchReport is what `xlb bench` writes to bench/results.
type benchReport struct {
	Time    string               `json:"time"`
	Mode    string               `json:"mode"`
	Version string               `json:"version"`
	Kernel  string               `json:"kernel"`
	CPUs    int                  `json:"cpus"`
	Results []dpcost.SuiteResult `json:"datapath"`
	Apply   []dpcost.ApplyResult `json:"apply"`
}

func newBenchCmd() *cobra.Command {
	var quick bool
	var outDir, cases string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the datapath: ns/packet (BPF_PROG_TEST_RUN) and memory per flow",
		Long: `bench measures the XDP program's cost per packet with BPF_PROG_TEST_RUN
(the kernel times only the program) for established and new flows of every
scheduler, UDP, pass-through traffic, 1 to 1000 real servers and 1k to 10M
flows in the connection table, and the connection table's memory per flow.
It prints a line per case and writes bench/results/datapath-*.json.

Throughput through the netns topology and the kernel IPVS comparison (in a
qemu VM) are run by 'make bench' (bench/README.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var uts unix.Utsname
			_ = unix.Uname(&uts)
			rep := benchReport{
				Time: time.Now().UTC().Format(time.RFC3339), Mode: "full", Version: version,
				Kernel: unix.ByteSliceToString(uts.Release[:]), CPUs: runtime.NumCPU(),
			}
			if quick {
				rep.Mode = "quick"
			}
			var want func(string) bool
			if cases != "" {
				re, err := regexp.Compile(cases)
				if err != nil {
					return fmt.Errorf("--cases: %w", err)
				}
				// Some cases side by side in one run: not a full report.
				want, rep.Mode = re.MatchString, "cases"
			}
			res, err := dpcost.RunSuite(cmd.OutOrStdout(), quick, want)
			if err != nil {
				return err
			}
			if len(res) == 0 {
				return fmt.Errorf("--cases %q matches no case", cases)
			}
			rep.Results = res
			sizes := []int{1000}
			switch {
			case want != nil:
				sizes = nil
			case !quick:
				sizes = []int{10, 100, 1000}
			}
			for _, n := range sizes {
				for _, s := range []maps.Scheduler{maps.RR, maps.MH} {
					a, err := dpcost.ApplyCost(n, s)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "apply %-4s %5d real servers: first %7.1f ms, one weight changed %7.1f ms\n", a.Scheduler, n, a.FirstMs, a.ChangeMs)
					rep.Apply = append(rep.Apply, a)
				}
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			name := filepath.Join(outDir, fmt.Sprintf("datapath-%s-%s.json", rep.Mode, time.Now().UTC().Format("20060102T150405Z")))
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "wrote", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&quick, "quick", false, "a few cases, for a smoke test (asserts nothing about timing)")
	cmd.Flags().StringVar(&outDir, "out", "bench/results", "directory for the JSON results")
	cmd.Flags().StringVar(&cases, "cases", "", "run only the cases whose name matches this regular expression (written as datapath-cases-*.json)")
	return cmd
}
