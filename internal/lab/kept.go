package lab

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// keptLab is what `hairpin lab --keep` records so that `hairpin lab down` can stop its servers later.
type keptLab struct {
	Prefix string `json:"prefix"`
	PIDs   []int  `json:"pids"`
}

// SaveKept records a lab left running (its prefix and the PIDs of its servers) in stateDir.
func SaveKept(stateDir, prefix string, pids []int) error {
	data, _ := json.Marshal(keptLab{Prefix: prefix, PIDs: pids})
	return os.WriteFile(filepath.Join(stateDir, prefix+".json"), data, 0o600)
}

// Down stops the servers of a kept lab, by the PIDs it recorded (and only if they still run this program's lab
// server), then deletes the lab's namespaces. It says so when there was no lab of that prefix.
func Down(stateDir, prefix string) error {
	stateFile := filepath.Join(stateDir, prefix+".json")
	if data, err := os.ReadFile(stateFile); err == nil {
		var st keptLab
		if json.Unmarshal(data, &st) == nil {
			for _, pid := range st.PIDs {
				// Only processes that are still this lab's: a server, or a daemon reading the lab's config.
				cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				// (miniupnpd of the UPnP ISP box runs from a temporary directory named after the prefix.)
				mine := strings.Contains(string(cmdline), "lab\x00serve") || strings.Contains(string(cmdline), filepath.Join(stateDir, prefix)) ||
					(strings.HasPrefix(string(cmdline), MiniupnpdPath+"\x00") && strings.Contains(string(cmdline), "/"+prefix+"-miniupnpd-"))
				if err == nil && mine {
					_ = syscall.Kill(pid, syscall.SIGTERM)
				}
			}
		}
		_ = os.Remove(stateFile)
	}
	_ = os.RemoveAll(filepath.Join(stateDir, prefix))
	if dirs, err := filepath.Glob(filepath.Join(os.TempDir(), prefix+"-miniupnpd-*")); err == nil {
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	}
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return err
	}
	removed := 0
	for _, line := range strings.Split(string(list), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, prefix+"-") {
			if err := exec.Command("ip", "netns", "del", name).Run(); err == nil {
				removed++
			}
		}
	}
	if removed == 0 {
		return errors.New("no lab namespaces found with prefix " + prefix)
	}
	return nil
}
