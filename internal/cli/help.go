package cli

import (
	"slices"
	"strconv"
	"strings"
)

// Help prints the command's help to its stdout: its text, how to call it, its examples, subcommands and flags.
// The layout is cobra's, which users of Go command lines know and hairpin's docs and users rely on.
func (c *Command) Help() error {
	_, err := c.OutOrStdout().Write([]byte(c.helpText()))
	return err
}

func (c *Command) helpText() string {
	var b strings.Builder
	text := c.Long
	if text == "" {
		text = c.Short
	}
	if text = strings.TrimRight(text, " \t\n"); text != "" {
		b.WriteString(text + "\n\n")
	}
	subs := c.visible()
	b.WriteString("Usage:\n  " + c.useLine())
	if len(subs) > 0 {
		b.WriteString("\n  " + c.CommandPath() + " [command]")
	}
	if c.Example != "" {
		b.WriteString("\n\nExamples:\n" + c.Example)
	}
	if len(subs) > 0 {
		pad := 11
		for _, s := range c.commands {
			pad = max(pad, len(s.Name()))
		}
		b.WriteString("\n\nAvailable Commands:")
		for _, s := range subs {
			b.WriteString("\n  " + s.Name() + strings.Repeat(" ", pad-len(s.Name())) + " " + s.Short)
		}
	}
	if local := append(slices.Clip(c.flags.flags), c.persistent.flags...); len(local) > 0 {
		b.WriteString("\n\nFlags:\n" + flagUsages(local))
	}
	var inherited []*Flag
	for p := c.parent; p != nil; p = p.parent {
		inherited = append(inherited, p.persistent.flags...)
	}
	if usage := flagUsages(inherited); usage != "" {
		b.WriteString("\n\nGlobal Flags:\n" + usage)
	}
	if len(subs) > 0 {
		b.WriteString("\n\nUse \"" + c.CommandPath() + " [command] --help\" for more information about a command.")
	}
	b.WriteString("\n")
	return b.String()
}

// useLine is how to call the command: its path, what Use says after the name, and [flags].
func (c *Command) useLine() string {
	line := c.Use
	if c.parent != nil {
		line = c.parent.CommandPath() + " " + c.Use
	}
	return line + " [flags]"
}

// flagUsages lists flags sorted by name, one a line, the usage texts in one column; hidden flags are left out.
func flagUsages(flags []*Flag) string {
	var shown []*Flag
	for _, f := range flags {
		if !f.Hidden {
			shown = append(shown, f)
		}
	}
	slices.SortFunc(shown, func(a, b *Flag) int { return strings.Compare(a.Name, b.Name) })
	heads := make([]string, len(shown))
	width := 0
	for i, f := range shown {
		h := "      --" + f.Name
		if f.Short != "" {
			h = "  -" + f.Short + ", --" + f.Name
		}
		if f.kind != "" {
			h += " " + f.kind
		}
		heads[i] = h
		width = max(width, len(h))
	}
	var b strings.Builder
	for i, f := range shown {
		b.WriteString(heads[i] + strings.Repeat(" ", width-len(heads[i])+3) + f.Usage)
		if !f.isZeroDefault() {
			if f.kind == "string" {
				b.WriteString(" (default " + strconv.Quote(f.defValue) + ")")
			} else {
				b.WriteString(" (default " + f.defValue + ")")
			}
		}
		if i < len(shown)-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// helpCmd is `help [command]`: the help of the command the words name.
func helpCmd(rootName string) *Command {
	h := &Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help provides help for any command in the application.\nSimply type " + rootName + " help [path to command] for full details.",
		Run:   func(*Command) error { return nil }, // args does the work
	}
	h.args = func(cmd *Command, args []string) error {
		root := cmd.root()
		target := root
		for _, a := range args {
			s := target.sub(a)
			if s == nil {
				return usagef("unknown help topic %q: see %s --help", strings.Join(args, " "), root.Name())
			}
			target = s
		}
		return target.Help()
	}
	return h
}
