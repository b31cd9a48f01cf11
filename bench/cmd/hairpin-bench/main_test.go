package main

import (
	"slices"
	"testing"
)

func TestParseSizes(t *testing.T) {
	tests := []struct {
		in            string
		sizes, rounds []int
		wantErr       bool
	}{
		{"1000:5,10000:5, 50000:3", []int{1000, 10000, 50000}, []int{5, 5, 3}, false},
		{"200:1", []int{200}, []int{1}, false},
		{"1000", nil, nil, true},
		{"1000:0", nil, nil, true},
		{"x:1", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			opt, err := parseSizes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Errorf("parseSizes(%q) error %v", tt.in, err)
				return
			}
			if !tt.wantErr && (!slices.Equal(opt.Sizes, tt.sizes) || !slices.Equal(opt.Rounds, tt.rounds)) {
				t.Errorf("parseSizes(%q) = %+v", tt.in, opt)
			}
		})
	}
}
