package rostest

import (
	"fmt"
	"strconv"
	"strings"
)

// stack is the query stack of the API manual's "Queries" section: it starts as an endless supply of true.
type stack []bool

func (s *stack) push(v bool) { *s = append(*s, v) }

func (s *stack) pop() bool {
	if len(*s) == 0 {
		return true
	}
	v := (*s)[len(*s)-1]
	*s = (*s)[:len(*s)-1]
	return v
}

// at returns the value at index i, the top being 0.
func (s stack) at(i int) bool {
	if i < len(s) {
		return s[len(s)-1-i]
	}
	return true
}

// matchQuery evaluates print query words against one item; the item matches when no false is left on the
// stack at the end.
func matchQuery(words []string, e Entry) (bool, error) {
	var st stack
	for _, w := range words {
		w = strings.TrimPrefix(w, "?")
		switch {
		case strings.HasPrefix(w, "#"):
			if err := st.ops(w[1:]); err != nil {
				return false, err
			}
		case strings.HasPrefix(w, "-"):
			_, has := e[w[1:]]
			st.push(!has)
		case strings.HasPrefix(w, "<") || strings.HasPrefix(w, ">"):
			k, v, ok := strings.Cut(w[1:], "=")
			if !ok {
				return false, fmt.Errorf("bad query word %q", w)
			}
			c := compare(e[k], v)
			st.push(w[0] == '<' && c < 0 || w[0] == '>' && c > 0)
		default:
			k, v, isEq := strings.Cut(strings.TrimPrefix(w, "="), "=")
			got, has := e[k]
			st.push(has && (!isEq || got == v))
		}
	}
	for _, v := range st {
		if !v {
			return false, nil
		}
	}
	return true, nil
}

// ops applies the operations of a "?#" word, left to right.
func (s *stack) ops(ops string) error {
	afterIndex := false
	for i := 0; i < len(ops); {
		if ops[i] >= '0' && ops[i] <= '9' {
			j := i
			for j < len(ops) && ops[j] >= '0' && ops[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(ops[i:j])
			v := s.at(n)
			if j == len(ops) {
				*s = stack{v} // an index ending the word replaces the whole stack
			} else {
				s.push(v)
			}
			i, afterIndex = j, true
			continue
		}
		switch ops[i] {
		case '!':
			s.push(!s.pop())
		case '&':
			a, b := s.pop(), s.pop()
			s.push(a && b)
		case '|':
			a, b := s.pop(), s.pop()
			s.push(a || b)
		case '.':
			if !afterIndex {
				s.push(s.at(0))
			}
		default:
			return fmt.Errorf("bad query operation %q", ops)
		}
		i++
		afterIndex = false
	}
	return nil
}

func compare(a, b string) int {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if err1 == nil && err2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
