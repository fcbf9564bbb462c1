package herdfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdhq/herd/deploy/herdfile"
)

const secretKey = "AIzaSyTEST-secret-key_0123456789abcdef"

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeKey(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfig_PlacesKey(t *testing.T) {
	goodFile := writeKey(t, secretKey+"\n")
	tests := []struct {
		name    string
		keyEnv  string
		keyFile string
		env     map[string]string
		want    string // key, if no error
		wantErr error
		field   string
	}{
		{"from env", "HERD_PLACES_KEY", "", map[string]string{"HERD_PLACES_KEY": secretKey}, secretKey, nil, ""},
		{"env trimmed", "K", "", map[string]string{"K": " " + secretKey + "\n"}, secretKey, nil, ""},
		{"from file, newline trimmed", "", goodFile, nil, secretKey, nil, ""},
		{"env unset falls back to file", "K", goodFile, nil, secretKey, nil, ""},
		{"env wins over file", "K", writeKey(t, "other"), map[string]string{"K": secretKey}, secretKey, nil, ""},
		{"env unset, no file", "K", "", nil, "", herdfile.ErrMissingKey, "places.key_env"},
		{"no source", "", "", nil, "", herdfile.ErrMissingKey, "places.key_env"},
		{"file missing", "", filepath.Join(t.TempDir(), "nope"), nil, "", os.ErrNotExist, "places.key_file"},
		{"file empty", "", writeKey(t, " \n"), nil, "", herdfile.ErrMissingKey, "places.key_file"},
		{"file two lines", "", writeKey(t, secretKey+"\n"+secretKey+"\n"), nil, "", herdfile.ErrBadKeySource, "places.key_file"},
		{"file too large", "", writeKey(t, strings.Repeat(secretKey, 2000)), nil, "", herdfile.ErrBadKeySource, "places.key_file"},
		{"env with control char", "K", "", map[string]string{"K": secretKey + "\x00x"}, "", herdfile.ErrBadKeySource, "places.key_env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := herdfile.DefaultConfig()
			c.Places.KeyEnv, c.Places.KeyFile = tt.keyEnv, tt.keyFile
			got, err := c.PlacesKey(env(tt.env))
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("PlacesKey = %q, %v; want the key", got, err)
				}
				return
			}
			if got != "" {
				t.Errorf("PlacesKey returned a key with an error")
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("PlacesKey error = %v, want %v", err, tt.wantErr)
			}
			assertFieldError(t, err, tt.wantErr, tt.field)
			if strings.Contains(err.Error(), secretKey) || strings.Contains(err.Error(), "AIza") {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
}
