// Package procstat reads /proc/PID/stat, whose fields after the command
// name are fixed (proc(5)) while the name itself may hold spaces and
// parentheses.
package procstat

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Fields returns the fields of /proc/PID/stat after the command name:
// [0] is the state, [1] the parent's PID, [19] the start time in clock
// ticks since boot.
func Fields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("bad stat")
	}
	return strings.Fields(s[i+1:]), nil
}
