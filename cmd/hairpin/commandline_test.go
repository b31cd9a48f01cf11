package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/hairpin-nat/hairpin/internal/cli"
)

// paths are every command of the tree, hidden ones too.
func paths(c *cli.Command, prefix []string) [][]string {
	out := [][]string{prefix}
	for _, s := range c.Commands() {
		out = append(out, paths(s, append(append([]string(nil), prefix...), s.Name()))...)
	}
	return out
}

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), "test", args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// Every command's --help, -h and `hairpin help PATH` print its help and exit 0 without running it; an unknown
// flag or command on any of them exits 2 with a clear message and runs nothing.
func TestCommandLine(t *testing.T) {
	all := paths(fullTree(), nil)
	for _, path := range all {
		name := strings.Join(append([]string{"hairpin"}, path...), " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var first string
			for _, args := range [][]string{
				append(append([]string(nil), path...), "--help"),
				append(append([]string(nil), path...), "-h"),
				append([]string{"help"}, path...),
			} {
				code, stdout, stderr := runArgs(t, args...)
				if code != exitOK || stderr != "" || !strings.Contains(stdout, "\nUsage:\n  "+name+" [") {
					t.Fatalf("hairpin %s: exit %d, stderr %q, stdout:\n%s", strings.Join(args, " "), code, stderr, stdout)
				}
				if first == "" {
					first = stdout
				} else if stdout != first {
					t.Errorf("hairpin %s prints another help than %s --help:\n%s", strings.Join(args, " "), name, stdout)
				}
			}
			for _, bad := range []struct{ arg, want string }{
				{"--no-such-flag", "hairpin: unknown flag: --no-such-flag\n"},
				{"-Z", "hairpin: unknown shorthand flag: 'Z' in -Z\n"},
				{"no-such-command", "hairpin: unknown command \"no-such-command\" for \"" + name + "\"\n"},
			} {
				if len(path) > 0 && path[0] == "help" && bad.arg == "no-such-command" {
					continue // help takes a command path: its own test below
				}
				args := append(append([]string(nil), path...), bad.arg)
				code, stdout, stderr := runArgs(t, args...)
				if code != exitConfig || stdout != "" || stderr != bad.want {
					t.Errorf("hairpin %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(args, " "), code, stdout, stderr, exitConfig, bad.want)
				}
			}
		})
	}
}

// The root: --version and version print the same line; a typo is answered with what was meant; a group alone
// and a help topic that is no command are usage errors.
func TestCommandLineRoot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"--version"}, exitOK, versionLine("test") + "\n", ""},
		{[]string{"version"}, exitOK, versionLine("test") + "\n", ""},
		{[]string{"stauts"}, exitConfig, "", "hairpin: unknown command \"stauts\" for \"hairpin\"\n\nDid you mean this?\n\tstatus\n\n"},
		{[]string{"ddns"}, exitConfig, "", "hairpin: hairpin ddns needs a subcommand: providers, update (see hairpin ddns --help)\n"},
		{[]string{"export"}, exitConfig, "", "hairpin: hairpin export needs a subcommand: routeros (see hairpin export --help)\n"},
		{[]string{"help", "nosuch"}, exitConfig, "", "hairpin: unknown help topic \"nosuch\": see hairpin --help\n"},
		{[]string{"check", "-c"}, exitConfig, "", "hairpin: flag needs an argument: 'c' in -c\n"},
		{[]string{"probe-server", "--timeout", "5"}, exitConfig, "", "hairpin: invalid argument \"5\" for \"--timeout\" flag: time: missing unit in duration \"5\"\n"},
	} {
		code, stdout, stderr := runArgs(t, tc.args...)
		if code != tc.code || stdout != tc.stdout || stderr != tc.stderr {
			t.Errorf("hairpin %s: exit %d, stdout %q, stderr %q; want exit %d, %q, %q", strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
	// The root's help lists the commands users know; lab's leaves out its hidden serve.
	_, stdout, _ := runArgs(t, "--help")
	for _, c := range []string{"apply", "check", "completion", "ddns", "doctor", "down", "export", "help", "init", "probe", "probe-server", "routeros", "run", "show", "status", "version"} {
		if !strings.Contains(stdout, "\n  "+c+" ") {
			t.Errorf("hairpin --help does not list %s:\n%s", c, stdout)
		}
	}
	if _, stdout, _ := runArgs(t, "lab", "--help"); strings.Contains(stdout, "\n  serve ") {
		t.Errorf("hairpin lab --help lists the hidden lab serve:\n%s", stdout)
	}
}

// Every command the docs' command tables name exists, with every flag they give it: a renamed or dropped
// command or flag fails here, not in a user's shell.
func TestCommandLineDocs(t *testing.T) {
	t.Parallel()
	root := fullTree()
	n := 0
	for _, doc := range []string{"../../README.md", "../../docs/daemon.md"} {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "| `hairpin ") {
				for _, p := range docProblems(t, root, line) {
					t.Errorf("%s: %s", doc, p)
				}
				n++
			}
		}
	}
	if n < 20 {
		t.Errorf("found %d commands in the docs' tables; the tables moved?", n)
	}
	// Negative controls: a command or a flag that does not exist is found.
	for _, line := range []string{"| `hairpin frobnicate -c FILE` | x |", "| `hairpin check --frobnicate` | x |", "| `hairpin ddns update`, `hairpin ddns frob` | x |"} {
		if len(docProblems(t, root, line)) == 0 {
			t.Errorf("%s: no problem found", line)
		}
	}
}

// docProblems checks the commands in the first cell of a docs table's row.
func docProblems(t *testing.T, root *cli.Command, line string) []string {
	var problems []string
	cell, _, _ := strings.Cut(line[1:], " | ")
	for _, m := range regexp.MustCompile("`hairpin ([^`]*)`").FindAllStringSubmatch(cell, -1) {
		var path, flags []string
		c := root
		for _, w := range strings.Fields(m[1]) {
			w = strings.Trim(w, "[]|.,")
			switch s := sub(c, w); {
			case strings.HasPrefix(w, "-"):
				flags = append(flags, strings.SplitN(w, "=", 2)[0])
			case s != nil && len(flags) == 0:
				c = s
				path = append(path, w)
			case len(c.Commands()) > 0 && len(flags) == 0:
				problems = append(problems, fmt.Sprintf("hairpin %s: %q is no subcommand of hairpin %s", m[1], w, strings.Join(path, " ")))
			}
		}
		if c.Hidden {
			continue // the router build's stand-in for the lab, which has none of its flags
		}
		code, help, stderr := runArgs(t, append(path, "--help")...)
		if code != exitOK {
			problems = append(problems, fmt.Sprintf("hairpin %s: `hairpin %s --help` exits %d: %s", m[1], strings.Join(path, " "), code, stderr))
			continue
		}
		for _, f := range flags {
			if !strings.Contains(help, " "+f+" ") && !strings.Contains(help, " "+f+",") && !strings.Contains(help, " "+f+"\n") {
				problems = append(problems, fmt.Sprintf("hairpin %s: hairpin %s has no flag %s", m[1], strings.Join(path, " "), f))
			}
		}
	}
	return problems
}

func sub(c *cli.Command, name string) *cli.Command {
	for _, s := range c.Commands() {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// fullTree is the command tree with what Execute adds to it: help and completion, -h and --help.
func fullTree() *cli.Command {
	root := rootCmd("test")
	_ = root.Execute(context.Background(), []string{"--help"}, io.Discard, io.Discard)
	return root
}
