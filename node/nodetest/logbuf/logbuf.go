// Package logbuf is a buffer that loggers and child processes write while
// a test reads it. It imports nothing of the herd, so the tests of every
// package can use it, including the in-package tests of node and
// node/server, which nodetest (it imports node) cannot serve.
package logbuf

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe to write from any goroutine while a test
// reads it. The zero value is ready to use; do not copy it after first use.
type Buffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// WriteString appends s; it never fails.
func (l *Buffer) WriteString(s string) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.WriteString(s)
}

// String is everything written since the start or the last Reset.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Reset forgets what was written, so a test can wait for what comes next.
func (l *Buffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// Contains reports whether s was written.
func (l *Buffer) Contains(s string) bool { return strings.Contains(l.String(), s) }

// Count is how many times s was written.
func (l *Buffer) Count(s string) int { return strings.Count(l.String(), s) }

// Logger is a text logger that writes to l the records at level and above.
func (l *Buffer) Logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}
