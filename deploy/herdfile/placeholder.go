package herdfile

import "strings"

// forNode is path with NodePlaceholder replaced by node.
func forNode(path, node string) string { return strings.ReplaceAll(path, NodePlaceholder, node) }

// ForNode returns c as node name reads it: NodePlaceholder replaced by name
// in every file path the node opens at start (places.key_file, the auth
// password files, the route TLS files) and, in each node's log_file, by
// that node's own name. Under systemd the node's secrets live in its own
// credentials directory (/run/credentials/herd-node@{node}.service/), so
// one herd file serves every host. c itself is not changed.
func (c Config) ForNode(name string) Config {
	for _, p := range []*string{
		&c.Places.KeyFile, &c.Auth.System.PasswordFile, &c.Auth.Routes.PasswordFile,
		&c.TLS.Routes.CAFile, &c.TLS.Routes.CertFile, &c.TLS.Routes.KeyFile,
	} {
		*p = forNode(*p, name)
	}
	c.Nodes = append([]Node(nil), c.Nodes...)
	for i, n := range c.Nodes {
		c.Nodes[i].LogFile = forNode(n.LogFile, n.Name)
	}
	return c
}
