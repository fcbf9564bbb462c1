package node_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herdhq/herd/bus"
	"github.com/herdhq/herd/bus/antientropy"
	"github.com/herdhq/herd/embeddednats"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/nodetest"
	"github.com/herdhq/herd/node/server"
	"github.com/herdhq/herd/node/service"
)

// New validates every part's config, so a bad setting of any part fails
// there, naming it, before anything listens — the flood's and
// anti-entropy's included.
func TestNode_NewValidatesEveryPart(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mod    func(*node.Config)
		want   error
		naming string
	}{
		{"name", func(c *node.Config) { c.Name = "a.b" }, node.ErrInvalidConfig, "Name"},
		{"places", func(c *node.Config) { c.Places = nil }, node.ErrInvalidConfig, "Places"},
		{"neighbor", func(c *node.Config) { c.Neighbors = []string{"A"} }, bus.ErrInvalidConfig, "Neighbors[0]"},
		{"nats", func(c *node.Config) { c.NATS.ClientAddr = "nowhere" }, embeddednats.ErrClientAddr, "NATS"},
		{"bus", func(c *node.Config) { c.Bus.Linger = 2 * time.Second }, bus.ErrInvalidConfig, "Linger"},
		{"anti-entropy", func(c *node.Config) { c.AntiEntropy.Jitter = 1 }, antientropy.ErrInvalidConfig, "Jitter"},
		{"client", func(c *node.Config) { c.Client.MaxLineBytes = 1 }, server.ErrInvalidConfig, "MaxLineBytes"},
		{"service", func(c *node.Config) { c.Service.Timeout = 0 }, service.ErrInvalidConfig, "Timeout"},
		{"live view", func(c *node.Config) {
			c.MonitorAddr = "127.0.0.1:0"
			c.Herd = node.Topology{Nodes: []string{"B"}}
		}, nil, "live view"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			cfg.Name, cfg.Places = "A", nodetest.ZeroPlaces{}
			if _, err := node.New(cfg); err != nil {
				t.Fatalf("valid config: %v", err)
			}
			tt.mod(&cfg)
			_, err := node.New(cfg)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.naming) {
				t.Fatalf("New = %v, want %v naming %s", err, tt.want, tt.naming)
			}
			if err := cfg.Validate(); err == nil {
				t.Fatal("Validate accepted what New refused")
			}
		})
	}
}
