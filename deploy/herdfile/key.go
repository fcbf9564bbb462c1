package herdfile

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxKeyBytes bounds how much of a key file is read: keys are short, and a
// misconfigured path (a log, a device) must not be read whole.
const maxKeyBytes = 64 << 10

// Key returns the Places API key: the value of the environment variable
// KeyEnv (looked up with getenv, e.g. os.Getenv) if set and non-empty,
// otherwise the contents of KeyFile with surrounding whitespace trimmed.
// Errors name the field and wrap ErrMissingKey or the I/O error; they never
// contain the key.
func (pc PlacesConfig) Key(getenv func(string) string) (string, error) {
	if pc.KeyEnv != "" && getenv != nil {
		if k := strings.TrimSpace(getenv(pc.KeyEnv)); k != "" {
			if !printable(k) {
				return "", &FieldError{Field: "places.key_env", Err: ErrBadKeySource,
					Detail: fmt.Sprintf("environment variable %s holds whitespace or control characters", pc.KeyEnv)}
			}
			return k, nil
		}
	}
	if pc.KeyFile == "" {
		if pc.KeyEnv == "" {
			return "", &FieldError{Field: "places.key_env", Err: ErrMissingKey, Detail: "neither key_env nor key_file is set"}
		}
		return "", &FieldError{Field: "places.key_env", Err: ErrMissingKey,
			Detail: fmt.Sprintf("environment variable %s is unset or empty and no key_file is set", pc.KeyEnv)}
	}
	f, err := os.Open(pc.KeyFile)
	if err != nil {
		return "", &FieldError{Field: "places.key_file", Err: err}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyBytes+1))
	if err != nil {
		return "", &FieldError{Field: "places.key_file", Err: err}
	}
	if len(data) > maxKeyBytes {
		return "", &FieldError{Field: "places.key_file", Err: ErrBadKeySource,
			Detail: fmt.Sprintf("%s is larger than %d bytes", pc.KeyFile, maxKeyBytes)}
	}
	k := strings.TrimSpace(string(data))
	if k == "" {
		return "", &FieldError{Field: "places.key_file", Err: ErrMissingKey, Detail: pc.KeyFile + " is empty"}
	}
	if !printable(k) {
		return "", &FieldError{Field: "places.key_file", Err: ErrBadKeySource,
			Detail: pc.KeyFile + " holds whitespace or control characters inside the key"}
	}
	return k, nil
}

// printable reports whether k is all visible ASCII, as an API key sent in
// an HTTP header or query string must be.
func printable(k string) bool {
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] >= 0x7f {
			return false
		}
	}
	return true
}

// PlacesKey is c.Places.Key(getenv).
func (c Config) PlacesKey(getenv func(string) string) (string, error) {
	return c.Places.Key(getenv)
}
