package herdrun

import (
	"log/slog"

	"github.com/herdhq/herd/deploy/herdfile"
	"github.com/herdhq/herd/node"
	"github.com/herdhq/herd/node/places"
	"github.com/herdhq/herd/node/places/offline"
)

// Check refuses what Start refuses of node name before anything listens:
// the node's config, built as Start builds it with sec applied, checked by
// the node's own Validate, with the refusal in the herd file's terms (open
// routes off loopback, say). herd check runs it, so that a file it passes
// is one herd node starts with. It reads what a start reads (the route
// TLS files; a Places key file) and nothing more: the offline data is
// built in and not decoded here, and a Google provider is made, not
// called.
func Check(hf herdfile.Config, name string, sec *Security, getenv func(string) string) error {
	var p places.Provider = offline.New() // decoded at its first search, never here
	if hf.Places.Provider != herdfile.ProviderOffline {
		ps, err := NewProviders(hf, getenv)
		if err != nil {
			return err
		}
		defer ps.Close()
		if p, _, err = ps.NewObserved(nil); err != nil {
			return err
		}
	}
	cfg, err := NodeConfig(hf, name, p, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	if err := secure(&cfg, name, sec, hf.Auth.System); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return herdFileError(err, cfg)
	}
	return nil
}

// secure applies sec (nil: none) to cfg of node name, and refuses chaos
// without a system user (sys says where its password would come from):
// herd chaos reaches the nodes as that user.
func secure(cfg *node.Config, name string, sec *Security, sys herdfile.Credential) error {
	if sec != nil {
		if err := sec.apply(cfg, name); err != nil {
			return err
		}
	}
	if cfg.Chaos.Enabled && cfg.NATS.SystemPassword == "" {
		where := "auth.system.password_env or auth.system.password_file"
		if sys.PasswordEnv != "" {
			where = sys.PasswordEnv + " (auth.system.password_env) or auth.system.password_file"
		}
		return &herdfile.FieldError{Field: "auth.system", Err: ErrChaosNoSystemUser,
			Detail: "herd chaos reaches the nodes as the system user: give it a password in " + where}
	}
	return nil
}
