package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// got is what a test tree's commands saw.
type got struct {
	ran                string
	config, name, addr string
	force, keep        bool
	rate               int
	timeout            time.Duration
	tcp                []int
	forwards           []string
	prefix             string
}

// tree is a small hairpin-like tree: a root with --version, a leaf with -c and flags of every kind, a group with
// a subcommand, a command with a persistent flag and a hidden subcommand.
func tree(g *got) *Command {
	root := &Command{Use: "hp", Short: "root short", Long: "The root's long text."}
	version := root.Flags().Bool("version", false, "print the version")
	root.Run = func(c *Command) error {
		if *version {
			g.ran = "version"
			return nil
		}
		return c.Help()
	}
	leaf := &Command{Use: "check", Short: "Check it", Example: "  hp check -c x.yaml",
		Run: func(*Command) error { g.ran = "check"; return nil }}
	leaf.Flags().StringVarP(&g.config, "config", "c", "/etc/hp.yaml", "config file")
	leaf.Flags().BoolVar(&g.force, "force", false, "force it")
	leaf.Flags().IntVar(&g.rate, "rate", 6, "per minute")
	leaf.Flags().DurationVar(&g.timeout, "timeout", 3*time.Second, "how long")
	leaf.Flags().IntSliceVar(&g.tcp, "tcp", nil, "ports")
	leaf.Flags().StringArrayVar(&g.forwards, "forward", nil, "a forward (repeat)")
	leaf.Flags().BoolVar(&g.keep, "secret-knob", false, "not shown")
	_ = leaf.Flags().MarkHidden("secret-knob")
	group := &Command{Use: "ddns", Short: "Dynamic DNS"}
	upd := &Command{Use: "update", Short: "Send now", Run: func(*Command) error { g.ran = "ddns update"; return nil }}
	upd.Flags().StringVar(&g.addr, "address", "", "address to send")
	group.AddCommand(upd)
	lab := &Command{Use: "lab", Short: "The lab", Run: func(*Command) error { g.ran = "lab"; return nil }}
	lab.PersistentFlags().StringVar(&g.prefix, "prefix", "hp-lab", "name prefix")
	lab.AddCommand(&Command{Use: "down", Short: "Remove it", Run: func(*Command) error { g.ran = "lab down"; return nil }},
		&Command{Use: "serve", Short: "Serve", Hidden: true, Run: func(*Command) error { g.ran = "lab serve"; return nil }})
	root.AddCommand(leaf, group, lab)
	return root
}

func execute(args ...string) (g got, stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = tree(&g).Execute(context.Background(), args, &out, &errOut)
	return g, out.String(), errOut.String(), err
}

func TestParse(t *testing.T) {
	defaults := got{config: "/etc/hp.yaml", rate: 6, timeout: 3 * time.Second, prefix: "hp-lab"}
	with := func(f func(g *got)) got { g := defaults; f(&g); return g }
	for _, tc := range []struct {
		name string
		args []string
		want got
	}{
		{"root", []string{"--version"}, with(func(g *got) { g.ran = "version" })},
		{"defaults", []string{"check"}, with(func(g *got) { g.ran = "check" })},
		{"long space", []string{"check", "--config", "a.yaml"}, with(func(g *got) { g.ran, g.config = "check", "a.yaml" })},
		{"long equals", []string{"check", "--config=a.yaml"}, with(func(g *got) { g.ran, g.config = "check", "a.yaml" })},
		{"long equals empty", []string{"check", "--config="}, with(func(g *got) { g.ran, g.config = "check", "" })},
		{"short space", []string{"check", "-c", "a.yaml"}, with(func(g *got) { g.ran, g.config = "check", "a.yaml" })},
		{"short attached", []string{"check", "-ca.yaml"}, with(func(g *got) { g.ran, g.config = "check", "a.yaml" })},
		{"short equals", []string{"check", "-c=a.yaml"}, with(func(g *got) { g.ran, g.config = "check", "a.yaml" })},
		{"value starting with a dash", []string{"check", "-c", "-x.yaml"}, with(func(g *got) { g.ran, g.config = "check", "-x.yaml" })},
		{"flags before the command", []string{"--config", "a.yaml", "check"}, with(func(g *got) { g.ran, g.config = "check", "a.yaml" })},
		{"bool", []string{"check", "--force"}, with(func(g *got) { g.ran, g.force = "check", true })},
		{"bool false", []string{"check", "--force=false"}, with(func(g *got) { g.ran = "check" })},
		{"hidden flag works", []string{"check", "--secret-knob"}, with(func(g *got) { g.ran, g.keep = "check", true })},
		{"int and duration", []string{"check", "--rate", "0x10", "--timeout", "1m30s"}, with(func(g *got) { g.ran, g.rate, g.timeout = "check", 16, 90*time.Second })},
		{"int slice", []string{"check", "--tcp", "80,81", "--tcp=82"}, with(func(g *got) { g.ran, g.tcp = "check", []int{80, 81, 82} })},
		{"string array keeps commas", []string{"check", "--forward", "a=1:h:2,x", "--forward", "b=3:h:4"}, with(func(g *got) { g.ran, g.forwards = "check", []string{"a=1:h:2,x", "b=3:h:4"} })},
		{"subcommand", []string{"ddns", "update", "--address", "192.0.2.1"}, with(func(g *got) { g.ran, g.addr = "ddns update", "192.0.2.1" })},
		{"persistent flag on the parent", []string{"lab", "--prefix", "x"}, with(func(g *got) { g.ran, g.prefix = "lab", "x" })},
		{"persistent flag before the subcommand", []string{"lab", "--prefix", "x", "down"}, with(func(g *got) { g.ran, g.prefix = "lab down", "x" })},
		{"persistent flag after the subcommand", []string{"lab", "down", "--prefix=y"}, with(func(g *got) { g.ran, g.prefix = "lab down", "y" })},
		{"hidden command runs", []string{"lab", "serve"}, with(func(g *got) { g.ran = "lab serve" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _, _, err := execute(tc.args...)
			if err != nil {
				t.Fatalf("%q: %v", tc.args, err)
			}
			if !equal(g, tc.want) {
				t.Errorf("%q:\n got %+v\nwant %+v", tc.args, g, tc.want)
			}
		})
	}
}

func equal(a, b got) bool {
	return a.ran == b.ran && a.config == b.config && a.name == b.name && a.addr == b.addr && a.force == b.force && a.keep == b.keep &&
		a.rate == b.rate && a.timeout == b.timeout && slices.Equal(a.tcp, b.tcp) && slices.Equal(a.forwards, b.forwards) && a.prefix == b.prefix
}

// Every command line that cannot run is a *UsageError that says why, and runs nothing.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"nosuch"}, `unknown command "nosuch" for "hp"`},
		{"suggestion", []string{"chekc"}, "unknown command \"chekc\" for \"hp\"\n\nDid you mean this?\n\tcheck\n"},
		{"hidden command not suggested", []string{"lab", "serv"}, `unknown command "serv" for "hp lab"`},
		{"argument to a leaf", []string{"check", "extra"}, `unknown command "extra" for "hp check"`},
		{"after --", []string{"check", "--", "-c"}, `unknown command "-c" for "hp check"`},
		{"unknown subcommand", []string{"ddns", "nosuch"}, `unknown command "nosuch" for "hp ddns"`},
		{"group alone", []string{"ddns"}, "hp ddns needs a subcommand: update (see hp ddns --help)"},
		{"unknown flag", []string{"check", "--nosuch"}, "unknown flag: --nosuch"},
		{"unknown short flag", []string{"check", "-x"}, "unknown shorthand flag: 'x' in -x"},
		{"another command's flag", []string{"ddns", "update", "--force"}, "unknown flag: --force"},
		{"persistent flag is not the parent's parent's", []string{"--prefix", "x"}, "unknown flag: --prefix"},
		{"missing value", []string{"check", "--config"}, "flag needs an argument: --config"},
		{"missing short value", []string{"check", "-c"}, "flag needs an argument: 'c' in -c"},
		{"bad int", []string{"check", "--rate", "x"}, `invalid argument "x" for "--rate" flag: strconv.ParseInt: parsing "x": invalid syntax`},
		{"bad duration", []string{"check", "--timeout", "5"}, `invalid argument "5" for "--timeout" flag: time: missing unit in duration "5"`},
		{"bad bool", []string{"check", "--force=maybe"}, `invalid argument "maybe" for "--force" flag: strconv.ParseBool: parsing "maybe": invalid syntax`},
		{"bad int slice", []string{"check", "--tcp", "80,x"}, `invalid argument "80,x" for "--tcp" flag: strconv.Atoi: parsing "x": invalid syntax`},
		{"bad syntax", []string{"check", "---x"}, "bad flag syntax: ---x"},
		{"unknown help topic", []string{"help", "nosuch"}, `unknown help topic "nosuch": see hp --help`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, stdout, _, err := execute(tc.args...)
			var u *UsageError
			if !errors.As(err, &u) || !IsUsage(err) {
				t.Fatalf("%q: err = %v, want a *UsageError", tc.args, err)
			}
			if err.Error() != tc.want {
				t.Errorf("%q:\n got %q\nwant %q", tc.args, err.Error(), tc.want)
			}
			if g.ran != "" || stdout != "" {
				t.Errorf("%q: ran %q and printed %q; a usage error runs nothing", tc.args, g.ran, stdout)
			}
		})
	}
	// A command's own error is not a usage error.
	root := &Command{Use: "hp", Run: func(*Command) error { return errors.New("boom") }}
	if err := root.Execute(context.Background(), nil, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || IsUsage(err) {
		t.Errorf("err = %v, want the command's own error", err)
	}
}

// Help's layout: text, usage lines, examples, commands (hidden ones left out, help and completion added on the
// root), flags sorted with their types and non-zero defaults (hidden ones left out), the parents' persistent
// flags, and the pointer at subcommands' help. -h, --help and `help PATH` print the same.
func TestHelp(t *testing.T) {
	const rootHelp = `The root's long text.

Usage:
  hp [flags]
  hp [command]

Available Commands:
  check       Check it
  completion  Generate the autocompletion script for the specified shell
  ddns        Dynamic DNS
  help        Help about any command
  lab         The lab

Flags:
  -h, --help      help for hp
      --version   print the version

Use "hp [command] --help" for more information about a command.
`
	const checkHelp = `Check it

Usage:
  hp check [flags]

Examples:
  hp check -c x.yaml

Flags:
  -c, --config string         config file (default "/etc/hp.yaml")
      --force                 force it
      --forward stringArray   a forward (repeat)
  -h, --help                  help for check
      --rate int              per minute (default 6)
      --tcp ints              ports
      --timeout duration      how long (default 3s)
`
	const downHelp = `Remove it

Usage:
  hp lab down [flags]

Flags:
  -h, --help   help for down

Global Flags:
      --prefix string   name prefix (default "hp-lab")
`
	const labHelp = `The lab

Usage:
  hp lab [flags]
  hp lab [command]

Available Commands:
  down        Remove it

Flags:
  -h, --help            help for lab
      --prefix string   name prefix (default "hp-lab")

Use "hp lab [command] --help" for more information about a command.
`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, rootHelp},
		{[]string{"--help"}, rootHelp},
		{[]string{"help"}, rootHelp},
		{[]string{"check", "--help"}, checkHelp},
		{[]string{"check", "-h"}, checkHelp},
		{[]string{"check", "extra", "--help"}, checkHelp},
		{[]string{"help", "check"}, checkHelp},
		{[]string{"lab", "down", "-h"}, downHelp},
		{[]string{"help", "lab", "down"}, downHelp},
		{[]string{"lab", "--help"}, labHelp},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			g, stdout, stderr, err := execute(tc.args...)
			if err != nil || g.ran != "" || stderr != "" {
				t.Fatalf("%q: err %v, ran %q, stderr %q", tc.args, err, g.ran, stderr)
			}
			if stdout != tc.want {
				t.Errorf("%q:\n%s\nwant:\n%s", tc.args, stdout, tc.want)
			}
		})
	}
}

// The bash script completes commands, subcommands and flags, follows persistent flags and skips flags' values;
// run by bash itself where it is installed.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash here")
	}
	_, script, _, err := execute("completion", "bash")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hp.bash")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line string // what is typed, the last word being completed
		want string
	}{
		{"hp ", "check completion ddns help lab --version --help -h"},
		{"hp d", "ddns"},
		{"hp ddns ", "update --help -h"},
		{"hp --version ddns u", "update"},
		{"hp check --", "--config --force --rate --timeout --tcp --forward --help"},
		{"hp check -c ", ""}, // a value: the shell's file names
		{"hp check -c ddns --f", "--force --forward"},
		{"hp lab --prefix x down --", "--help --prefix"},
		{"hp lab s", ""}, // hidden
		{"hp completion ", "bash zsh --help -h"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			words := strings.Split(tc.line, " ")
			var quoted []string
			for _, w := range words {
				quoted = append(quoted, "'"+w+"'")
			}
			prog := "source " + file + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
				"\n_hp\necho \"${COMPREPLY[*]}\""
			out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("%q: completes %q, want %q", tc.line, got, tc.want)
			}
		})
	}
}
