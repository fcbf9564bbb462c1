package service

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/herdhq/herd/node/server"
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
		c.Node, c.Conn, c.Commands = "A", &nats.Conn{}, &server.Server{}
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
		{"Conn", func(c *Config) { c.Conn = nil }},
		{"Commands", func(c *Config) { c.Commands = nil }},
		{"MaxConcurrent", func(c *Config) { c.MaxConcurrent = 0 }},
		{"Timeout", func(c *Config) { c.Timeout = 0 }},
		{"Logger", func(c *Config) { c.Logger = nil }},
	} {
		c := valid()
		tt.mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: %v", tt.field, err)
		}
	}
}
