// Package cli is hairpin's command line: a tree of commands with GNU-style flags (--name value, -n value,
// persistent flags a command hands down to its subcommands), help generated from the tree, the `help` and
// `completion` commands, and one error type for a command line that cannot run. It is small on purpose: the
// router build has no room for a general-purpose CLI library (README.md in this directory).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/hairpin-nat/hairpin/internal/typo"
)

// Command is a command of the tree. A command without Run and with subcommands is a group: run alone it is a
// usage error naming its subcommands. No command takes positional arguments: a word that is not a subcommand
// is an unknown command.
type Command struct {
	Use     string // the name, as typed
	Short   string // one line, in the parent's list of commands
	Long    string // the help's text; Short when empty
	Example string // printed under Examples:, indented by the writer
	Hidden  bool   // left out of the parent's list; still runs
	Run     func(cmd *Command) error

	flags, persistent FlagSet
	commands          []*Command
	parent            *Command

	// Set on the root by Execute; every command reads them from there.
	ctx         context.Context
	out, errOut io.Writer

	args     func(cmd *Command, args []string) error // the help command's: it takes a command path
	helpFlag bool
}

// UsageError is a command line that cannot run: an unknown command or flag, a flag's bad value, a group run
// without a subcommand. Nothing was done; hairpin exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// Flags are the command's own flags.
func (c *Command) Flags() *FlagSet { return &c.flags }

// PersistentFlags are the command's flags that its subcommands accept too.
func (c *Command) PersistentFlags() *FlagSet { return &c.persistent }

// AddCommand adds subcommands.
func (c *Command) AddCommand(cmds ...*Command) {
	for _, s := range cmds {
		s.parent = c
	}
	c.commands = append(c.commands, cmds...)
}

// Commands are the subcommands, in the order they were added.
func (c *Command) Commands() []*Command { return c.commands }

// Name is the command's name, the first word of Use.
func (c *Command) Name() string {
	name, _, _ := strings.Cut(c.Use, " ")
	return name
}

// CommandPath is the name with its parents': "hairpin ddns update".
func (c *Command) CommandPath() string {
	if c.parent == nil {
		return c.Name()
	}
	return c.parent.CommandPath() + " " + c.Name()
}

// root is not inlined, nor are Context, OutOrStdout and ErrOrStderr: every command calls them, and a copy of
// the parent walk at each call grows the router build.
//
//go:noinline
func (c *Command) root() *Command {
	for c.parent != nil {
		c = c.parent
	}
	return c
}

// Context is the context Execute was given.
//
//go:noinline
func (c *Command) Context() context.Context {
	if ctx := c.root().ctx; ctx != nil {
		return ctx
	}
	return context.Background()
}

// OutOrStdout is where the command prints its results: Execute's stdout.
//
//go:noinline
func (c *Command) OutOrStdout() io.Writer {
	if w := c.root().out; w != nil {
		return w
	}
	return os.Stdout
}

// ErrOrStderr is where the command prints warnings: Execute's stderr.
//
//go:noinline
func (c *Command) ErrOrStderr() io.Writer {
	if w := c.root().errOut; w != nil {
		return w
	}
	return os.Stderr
}

// sub is the subcommand named name, hidden or not.
func (c *Command) sub(name string) *Command {
	for _, s := range c.commands {
		if s.Name() == name {
			return s
		}
	}
	return nil
}

// visible are the subcommands help lists, sorted by name.
func (c *Command) visible() []*Command {
	var cmds []*Command
	for _, s := range c.commands {
		if !s.Hidden {
			cmds = append(cmds, s)
		}
	}
	slices.SortFunc(cmds, func(a, b *Command) int { return strings.Compare(a.Name(), b.Name()) })
	return cmds
}

// scope is every flag the command accepts: its own, its persistent ones and its ancestors' persistent ones.
func (c *Command) scope() scope {
	s := scope{&c.flags, &c.persistent}
	for p := c.parent; p != nil; p = p.parent {
		s = append(s, &p.persistent)
	}
	return s
}

// Execute runs the command that args name, with ctx, stdout and stderr for every command of the tree. Errors
// are the command's own, or a *UsageError; -h or --help prints the command's help instead of running it.
func (c *Command) Execute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c.ctx, c.out, c.errOut = ctx, stdout, stderr
	if len(c.commands) > 0 && c.sub("help") == nil {
		c.AddCommand(helpCmd(c.Name()), completionCmd(c.Name()))
	}
	c.addHelpFlags()
	cmd, rest := c.find(args)
	rest, err := cmd.scope().parse(rest)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if cmd.helpFlag {
		return cmd.Help()
	}
	if cmd.args != nil {
		if err := cmd.args(cmd, rest); err != nil {
			return err
		}
	} else if len(rest) > 0 {
		return unknownCommand(cmd, rest[0])
	}
	if cmd.Run == nil {
		if len(cmd.commands) == 0 {
			return cmd.Help()
		}
		var names []string
		for _, s := range cmd.visible() {
			names = append(names, s.Name())
		}
		return usagef("%s needs a subcommand: %s (see %s --help)", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
	}
	return cmd.Run(cmd)
}

// addHelpFlags gives every command of the tree -h, --help.
func (c *Command) addHelpFlags() {
	if c.flags.lookup("help") == nil {
		c.flags.BoolVar(&c.helpFlag, "help", false, "help for "+c.Name())
		c.flags.flags[len(c.flags.flags)-1].Short = "h"
	}
	for _, s := range c.commands {
		s.addHelpFlags()
	}
}

// find walks args down the tree as far as they name subcommands, skipping flags (and the values of those that
// take one), and returns the command and args without the subcommands' names.
func (c *Command) find(args []string) (*Command, []string) {
	cmd := c
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return cmd, append(rest, args[i:]...)
		case len(a) > 1 && a[0] == '-':
			rest = append(rest, a)
			if cmd.scope().takesValue(a) && i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
		default:
			if s := cmd.sub(a); s != nil && cmd.args == nil {
				cmd = s
				continue
			}
			rest = append(rest, a)
		}
	}
	return cmd, rest
}

// unknownCommand is the error for a word that is no subcommand of cmd, with the names it may have meant.
func unknownCommand(cmd *Command, word string) error {
	msg := fmt.Sprintf("unknown command %q for %q", word, cmd.CommandPath())
	var near []string
	for _, s := range cmd.visible() {
		if strings.HasPrefix(strings.ToLower(s.Name()), strings.ToLower(word)) || typo.Distance(strings.ToLower(word), strings.ToLower(s.Name())) <= 2 {
			near = append(near, s.Name())
		}
	}
	if len(near) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(near, "\n\t") + "\n"
	}
	return &UsageError{Msg: msg}
}

// IsUsage reports whether err is a command line that cannot run (exit 2).
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}
