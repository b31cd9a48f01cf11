package cli

import (
	"strconv"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// A value is a flag's destination: Set parses one occurrence on the command line (a repeated list flag
// appends), String is the default as help shows it.
type value interface {
	Set(string) error
	String() string
}

// Flag is one flag of a command.
type Flag struct {
	Name   string // long name, used as --Name
	Short  string // one letter, used as -S; "" for none
	Usage  string
	Hidden bool // accepted, left out of help

	value    value
	kind     string // the word help puts after the name: "string", "int", "duration", "ints", "stringArray"; "" for a bool
	defValue string
}

// FlagSet holds a command's flags in the order they were defined; help sorts them by name.
type FlagSet struct {
	flags []*Flag
}

// add is not inlined: each command defines its flags through it, and a copy at every definition grows the
// router build.
//
//go:noinline
func (fs *FlagSet) add(name, short, usage, kind string, v value) {
	fs.flags = append(fs.flags, &Flag{Name: name, Short: short, Usage: usage, value: v, kind: kind, defValue: v.String()})
}

func (fs *FlagSet) lookup(name string) *Flag {
	for _, f := range fs.flags {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func (fs *FlagSet) lookupShort(short string) *Flag {
	for _, f := range fs.flags {
		if f.Short != "" && f.Short == short {
			return f
		}
	}
	return nil
}

// MarkHidden keeps the flag out of help; it still works.
func (fs *FlagSet) MarkHidden(name string) error {
	f := fs.lookup(name)
	if f == nil {
		return errfmt.Errorf("no flag --%s", name)
	}
	f.Hidden = true
	return nil
}

// StringVar defines --name taking a string, stored in p.
func (fs *FlagSet) StringVar(p *string, name, value, usage string) {
	fs.StringVarP(p, name, "", value, usage)
}

// StringVarP is StringVar with a one-letter short name too.
func (fs *FlagSet) StringVarP(p *string, name, short, value, usage string) {
	*p = value
	fs.add(name, short, usage, "string", (*stringValue)(p))
}

// BoolVar defines --name, which sets p to true (or --name=false).
func (fs *FlagSet) BoolVar(p *bool, name string, value bool, usage string) {
	*p = value
	fs.add(name, "", usage, "", (*boolValue)(p))
}

// Bool is BoolVar returning a new variable.
func (fs *FlagSet) Bool(name string, value bool, usage string) *bool {
	p := new(bool)
	fs.BoolVar(p, name, value, usage)
	return p
}

// IntVar defines --name taking an integer (decimal, or 0x, 0o, 0b prefixed).
func (fs *FlagSet) IntVar(p *int, name string, value int, usage string) {
	*p = value
	fs.add(name, "", usage, "int", (*intValue)(p))
}

// DurationVar defines --name taking a Go duration such as 3s or 1m30s.
func (fs *FlagSet) DurationVar(p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.add(name, "", usage, "duration", (*durationValue)(p))
}

// IntSliceVar defines --name taking comma-separated integers; repeating it adds more.
func (fs *FlagSet) IntSliceVar(p *[]int, name string, value []int, usage string) {
	*p = value
	fs.add(name, "", usage, "ints", &intSliceValue{p: p})
}

// StringArrayVar defines --name taking one string each time it is given (commas are kept).
func (fs *FlagSet) StringArrayVar(p *[]string, name string, value []string, usage string) {
	*p = value
	fs.add(name, "", usage, "stringArray", &stringArrayValue{p: p})
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		return err
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string { return strconv.Itoa(int(*v)) }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string { return time.Duration(*v).String() }

// intSliceValue's first Set replaces the default; later ones append.
type intSliceValue struct {
	p   *[]int
	set bool
}

func (v *intSliceValue) Set(s string) error {
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		ns = append(ns, n)
	}
	if !v.set {
		*v.p = nil
		v.set = true
	}
	*v.p = append(*v.p, ns...)
	return nil
}

func (v *intSliceValue) String() string {
	s := make([]string, len(*v.p))
	for i, n := range *v.p {
		s[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// stringArrayValue's first Set replaces the default; later ones append.
type stringArrayValue struct {
	p   *[]string
	set bool
}

func (v *stringArrayValue) Set(s string) error {
	if !v.set {
		*v.p = nil
		v.set = true
	}
	*v.p = append(*v.p, s)
	return nil
}

func (v *stringArrayValue) String() string { return "[" + strings.Join(*v.p, ",") + "]" }

// isZeroDefault: help shows a default only when it is not the type's zero.
func (f *Flag) isZeroDefault() bool {
	switch f.defValue {
	case "", "false", "0", "0s", "[]":
		return true
	}
	return false
}

// scope is the flags a command accepts: its own, then its ancestors' persistent ones.
type scope []*FlagSet

func (s scope) lookup(name string) *Flag {
	for _, fs := range s {
		if f := fs.lookup(name); f != nil {
			return f
		}
	}
	return nil
}

func (s scope) lookupShort(short string) *Flag {
	for _, fs := range s {
		if f := fs.lookupShort(short); f != nil {
			return f
		}
	}
	return nil
}

// takesValue says whether the flag in arg (which starts with -) consumes the argument after it: what finding
// the command path needs to skip a flag's value. An unknown flag takes none; parse reports it.
func (s scope) takesValue(arg string) bool {
	if strings.HasPrefix(arg, "--") {
		name := arg[2:]
		if strings.Contains(name, "=") {
			return false
		}
		f := s.lookup(name)
		return f != nil && f.kind != ""
	}
	// -abc: bools until one that takes a value, which takes the rest or, if there is none, the next argument.
	for i := 1; i < len(arg); i++ {
		f := s.lookupShort(arg[i : i+1])
		if f == nil {
			return false
		}
		if f.kind != "" {
			return i == len(arg)-1
		}
	}
	return false
}

// parse sets the flags in args and returns the other arguments (all of them after "--"). It speaks GNU
// style: --name=value, --name value, -n value, -nvalue, -n=value, a bool without a value, and bools combined
// (-ab).
func (s scope) parse(args []string) (rest []string, err error) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			return append(rest, args[i+1:]...), nil
		case len(arg) < 2 || arg[0] != '-':
			rest = append(rest, arg)
		case arg[1] == '-':
			name, val, hasVal := strings.Cut(arg[2:], "=")
			if name == "" || name[0] == '-' || name[0] == '=' {
				return nil, errfmt.Errorf("bad flag syntax: %s", arg)
			}
			f := s.lookup(name)
			if f == nil {
				return nil, errfmt.Errorf("unknown flag: --%s", name)
			}
			switch {
			case hasVal:
			case f.kind == "":
				val = "true"
			case i+1 < len(args):
				i++
				val = args[i]
			default:
				return nil, errfmt.Errorf("flag needs an argument: %s", arg)
			}
			if err := f.set(val); err != nil {
				return nil, err
			}
		default:
			for j := 1; j < len(arg); j++ {
				c := arg[j : j+1]
				f := s.lookupShort(c)
				if f == nil {
					return nil, errfmt.Errorf("unknown shorthand flag: '%s' in %s", c, arg)
				}
				var val string
				switch {
				case j+1 < len(arg) && arg[j+1] == '=':
					val, j = arg[j+2:], len(arg)
				case f.kind == "":
					val = "true"
				case j+1 < len(arg):
					val, j = arg[j+1:], len(arg)
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					return nil, errfmt.Errorf("flag needs an argument: '%s' in %s", c, arg)
				}
				if err := f.set(val); err != nil {
					return nil, err
				}
			}
		}
	}
	return rest, nil
}

func (f *Flag) set(val string) error {
	if err := f.value.Set(val); err != nil {
		return errfmt.Errorf("invalid argument %q for %q flag: %v", val, f.names(), err)
	}
	return nil
}

// names is how an error names the flag: "--name" or "-n, --name".
func (f *Flag) names() string {
	if f.Short != "" {
		return "-" + f.Short + ", --" + f.Name
	}
	return "--" + f.Name
}
