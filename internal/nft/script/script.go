// Package script is hairpin's model of an nft script: the objects of one table and the verbs that change
// them, written as the nft commands `hairpin show` prints and the apply compiles into netlink messages
// (internal/nft/compile.go). The text is byte for byte what sigs.k8s.io/knftables writes for the same
// objects, so the goldens and compile's grammar do not depend on which of the two built it; knftables itself
// stays a test dependency (its fake interprets these scripts in the unit tests, nftfake).
package script

import (
	"strconv"
	"strings"
	"time"
)

// Family is an nftables address family.
type Family string

const (
	IPv4Family Family = "ip"
	IPv6Family Family = "ip6"
)

// BaseChainType, BaseChainHook, BaseChainPriority and BaseChainPolicy describe a base chain.
type (
	BaseChainType     string
	BaseChainHook     string
	BaseChainPriority string
	BaseChainPolicy   string
	SetFlag           string
)

const (
	FilterType BaseChainType = "filter"
	NATType    BaseChainType = "nat"

	PreroutingHook  BaseChainHook = "prerouting"
	ForwardHook     BaseChainHook = "forward"
	OutputHook      BaseChainHook = "output"
	PostroutingHook BaseChainHook = "postrouting"

	DNATPriority BaseChainPriority = "dstnat"
	SNATPriority BaseChainPriority = "srcnat"

	AcceptPolicy BaseChainPolicy = "accept"
	DropPolicy   BaseChainPolicy = "drop"

	DynamicFlag  SetFlag = "dynamic"
	IntervalFlag SetFlag = "interval"
	TimeoutFlag  SetFlag = "timeout"
)

// Verb is an nft command's verb.
type Verb string

const (
	Add    Verb = "add"
	Flush  Verb = "flush"
	Delete Verb = "delete"
)

// Object is one of the objects of a table: *Table, *Chain, *Rule, *Set, *Map, *Element, *Counter.
type Object interface {
	write(w *strings.Builder, v Verb, head string)
}

// Table is the table itself.
type Table struct {
	Comment *string
}

// Chain is a regular chain, or a base chain when Type, Hook and Priority are set.
type Chain struct {
	Name     string
	Type     *BaseChainType
	Hook     *BaseChainHook
	Priority *BaseChainPriority
	Policy   *BaseChainPolicy
}

// Rule is appended to Chain.
type Rule struct {
	Chain string
	Rule  string
}

// Set is a named set; Type may carry more declarations after the type ("inet_service ; counter").
type Set struct {
	Name    string
	Type    string
	Flags   []SetFlag
	Timeout *time.Duration
	Size    *uint64
}

// Map is a named map.
type Map struct {
	Name string
	Type string
}

// Element is an element of Set or of Map (with Value).
type Element struct {
	Set   string
	Map   string
	Key   []string
	Value []string
}

// Counter is a named counter; Packets and Bytes are set together.
type Counter struct {
	Name    string
	Comment *string
	Packets *uint64
	Bytes   *uint64
}

// Op is one command of a transaction.
type Op struct {
	Verb Verb
	Obj  Object
}

// Transaction is a list of commands on one table.
type Transaction struct {
	family Family
	table  string
	ops    []Op
}

// NewTransaction starts a transaction on table family name.
func NewTransaction(family Family, name string) *Transaction {
	return &Transaction{family: family, table: name}
}

// Family is the family of the transaction's table.
func (tx *Transaction) Family() Family { return tx.family }

func (tx *Transaction) Add(o Object)    { tx.ops = append(tx.ops, Op{Add, o}) }
func (tx *Transaction) Flush(o Object)  { tx.ops = append(tx.ops, Op{Flush, o}) }
func (tx *Transaction) Delete(o Object) { tx.ops = append(tx.ops, Op{Delete, o}) }

// NumOperations is the number of commands queued.
func (tx *Transaction) NumOperations() int { return len(tx.ops) }

// Ops are the commands queued, in order.
func (tx *Transaction) Ops() []Op { return tx.ops }

// String is the transaction as nft commands, one a line.
func (tx *Transaction) String() string {
	var w strings.Builder
	for _, op := range tx.ops {
		op.Obj.write(&w, op.Verb, string(tx.family)+" "+tx.table)
	}
	return w.String()
}

// start writes "VERB KIND FAMILY TABLE".
func start(w *strings.Builder, v Verb, kind, head string) {
	w.WriteString(string(v))
	w.WriteByte(' ')
	w.WriteString(kind)
	w.WriteByte(' ')
	w.WriteString(head)
}

func (t *Table) write(w *strings.Builder, v Verb, head string) {
	start(w, v, "table", head)
	if v == Add && t.Comment != nil {
		w.WriteString(" { comment " + strconv.Quote(*t.Comment) + " ; }")
	}
	w.WriteByte('\n')
}

func (c *Chain) write(w *strings.Builder, v Verb, head string) {
	start(w, v, "chain", head)
	w.WriteString(" " + c.Name)
	if v == Add && c.Type != nil {
		w.WriteString(" { type " + string(*c.Type) + " hook " + string(*c.Hook) + " priority " + priority(*c.Priority) + " ;")
		if c.Policy != nil {
			w.WriteString(" policy " + string(*c.Policy) + " ;")
		}
		w.WriteString(" }")
	}
	w.WriteByte('\n')
}

// numericPriorities are the named priorities of the ip and ip6 families.
var numericPriorities = map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

// priority is p as a number where it is a bare name or number (older nft refuses some names in some hooks, e.g.
// dstnat in output), else as written: "filter - 5" stays text, as knftables leaves it.
func priority(p BaseChainPriority) string {
	s := string(p)
	if _, err := strconv.Atoi(s); err == nil {
		return s
	}
	if strings.ContainsAny(s, "+-") {
		return s
	}
	if n, ok := numericPriorities[s]; ok {
		return strconv.Itoa(n)
	}
	return s
}

func (r *Rule) write(w *strings.Builder, v Verb, head string) {
	start(w, v, "rule", head)
	w.WriteString(" " + r.Chain)
	if v == Add {
		w.WriteString(" " + r.Rule)
	}
	w.WriteByte('\n')
}

func (s *Set) write(w *strings.Builder, v Verb, head string) {
	start(w, v, "set", head)
	w.WriteString(" " + s.Name)
	if v == Add {
		w.WriteString(" { type " + s.Type + " ;")
		if len(s.Flags) != 0 {
			w.WriteString(" flags ")
			for i, f := range s.Flags {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(string(f))
			}
			w.WriteString(" ;")
		}
		if s.Timeout != nil {
			w.WriteString(" timeout " + strconv.FormatInt(int64(s.Timeout.Seconds()), 10) + "s ;")
		}
		if s.Size != nil {
			w.WriteString(" size " + strconv.FormatUint(*s.Size, 10) + " ;")
		}
		w.WriteString(" }")
	}
	w.WriteByte('\n')
}

func (m *Map) write(w *strings.Builder, v Verb, head string) {
	start(w, v, "map", head)
	w.WriteString(" " + m.Name)
	if v == Add {
		w.WriteString(" { type " + m.Type + " ; }")
	}
	w.WriteByte('\n')
}

func (e *Element) write(w *strings.Builder, v Verb, head string) {
	name := e.Set
	if name == "" {
		name = e.Map
	}
	start(w, v, "element", head)
	w.WriteString(" " + name + " { " + strings.Join(e.Key, " . "))
	if v == Add && len(e.Value) != 0 {
		w.WriteString(" : " + strings.Join(e.Value, " . "))
	}
	w.WriteString(" }\n")
}

func (c *Counter) write(w *strings.Builder, v Verb, head string) {
	start(w, v, "counter", head)
	w.WriteString(" " + c.Name)
	if v == Add && (c.Comment != nil || c.Packets != nil || c.Bytes != nil) {
		w.WriteString(" {")
		if c.Packets != nil && c.Bytes != nil {
			w.WriteString(" packets " + strconv.FormatUint(*c.Packets, 10) + " bytes " + strconv.FormatUint(*c.Bytes, 10) + " ;")
		}
		if c.Comment != nil {
			w.WriteString(" comment " + strconv.Quote(*c.Comment) + " ;")
		}
		w.WriteString(" }")
	}
	w.WriteByte('\n')
}
