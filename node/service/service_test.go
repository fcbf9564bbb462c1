package service

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecimal_UnmarshalJSON(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{`"1621464827.959498503"`, "1621464827.959498503", true},
		{`1621464827.959498503`, "1621464827.959498503", true}, // exact text, no float64
		{`10`, "10", true},
		{`1e1`, "1e1", true}, // kept; the classic parser refuses it
		{`true`, "", false},
		{`{}`, "", false},
	} {
		var d Decimal
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err == nil) != tt.ok || (tt.ok && string(d) != tt.want) {
			t.Errorf("%s: %q, %v", tt.in, d, err)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Node = "A"
		return c
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, tt := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Node", func(c *Config) { c.Node = "a.b" }},
		{"MaxConcurrent", func(c *Config) { c.MaxConcurrent = 0 }},
		{"Timeout", func(c *Config) { c.Timeout = 0 }},
	} {
		c := valid()
		tt.mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v", tt.field, err)
		}
	}
	if _, err := New(valid(), nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New without conn and core: %v", err)
	}
}

// A client name decodes from its JSON string's raw bytes: escapes are
// decoded, but nothing becomes U+FFFD, so a name that is not UTF-8 stays
// one and the parser refuses it, as at the TCP port.
func TestClientName_UnmarshalJSON(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{`"kiwi.cs.ucla.edu"`, "kiwi.cs.ucla.edu", true},
		{`"caf\u00e9 \"x\" \\ \/"`, `café "x" \ /`, true},
		{"\"caf\xe9\"", "caf\xe9", true},       // Latin-1: kept, not U+FFFD
		{`"\ud83d\ude00"`, "\U0001F600", true}, // a surrogate pair
		{`"a\ud800b"`, "a\xed\xa0\x80b", true}, // a lone surrogate: not UTF-8
		{`"\udc00"`, "\xed\xb0\x80", true},     // a lone low surrogate
		{"\"\xef\xbf\xbd\"", "\uFFFD", true},   // U+FFFD itself is a character
		{`12`, "", false},
	} {
		var n ClientName
		err := json.Unmarshal([]byte(tt.in), &n)
		if (err == nil) != tt.ok || (tt.ok && string(n) != tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.in, n, err, tt.want)
		}
	}
}
