package spectest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Rec is one record as a fake keeps it: names are fully qualified, lower case, without the final dot.
type Rec struct {
	ID      string
	Name    string
	Type    string
	Content string
	TTL     int
}

// Store is the records of a fake's zones.
type Store struct {
	mu     sync.Mutex
	zones  map[string][]*Rec
	nextID int
}

// NewStore makes a store with the zones named.
func NewStore(zones ...string) *Store {
	s := &Store{zones: map[string][]*Rec{}, nextID: 1000}
	for _, z := range zones {
		s.zones[z] = nil
	}
	return s
}

// Zones lists the zone names, sorted.
func (s *Store) Zones() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for z := range s.zones {
		out = append(out, z)
	}
	slices.Sort(out)
	return out
}

// HasZone reports whether the store has zone.
func (s *Store) HasZone(zone string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.zones[zone]
	return ok
}

// Add creates a record and returns a copy.
func (s *Store) Add(zone, name, typ, content string, ttl int) Rec {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	r := &Rec{ID: fmt.Sprint(s.nextID), Name: norm(name), Type: typ, Content: content, TTL: ttl}
	s.zones[zone] = append(s.zones[zone], r)
	return *r
}

// List returns copies of a zone's records whose name and type match (empty: any).
func (s *Store) List(zone, name, typ string) []Rec {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Rec
	for _, r := range s.zones[zone] {
		if (name == "" || r.Name == norm(name)) && (typ == "" || r.Type == typ) {
			out = append(out, *r)
		}
	}
	return out
}

// Get returns a record by ID.
func (s *Store) Get(zone, id string) (Rec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.zones[zone] {
		if r.ID == id {
			return *r, true
		}
	}
	return Rec{}, false
}

// Update changes a record by ID with f.
func (s *Store) Update(zone, id string, f func(*Rec)) (Rec, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.zones[zone] {
		if r.ID == id {
			f(r)
			return *r, true
		}
	}
	return Rec{}, false
}

// Replace sets the records of one name and type to contents, keeping the IDs of those that stay.
func (s *Store) Replace(zone, name, typ string, contents []string, ttl int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keep []*Rec
	for _, r := range s.zones[zone] {
		if r.Name != norm(name) || r.Type != typ {
			keep = append(keep, r)
		}
	}
	for _, c := range contents {
		s.nextID++
		keep = append(keep, &Rec{ID: fmt.Sprint(s.nextID), Name: norm(name), Type: typ, Content: c, TTL: ttl})
	}
	s.zones[zone] = keep
}

// Dump is every record of a zone as "name TYPE content", sorted, for comparisons.
func (s *Store) Dump(zone string) []string {
	var out []string
	for _, r := range s.List(zone, "", "") {
		out = append(out, r.Name+" "+r.Type+" "+r.Content)
	}
	slices.Sort(out)
	return out
}

func norm(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }
