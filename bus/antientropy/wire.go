package antientropy

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/herdhq/herd/bus/digest"
)

// Anti-entropy wire format (protocol.md §2 "Anti-entropy"). Every request
// goes to herd.sync.<peer> with headers Herd-Sender (the requester) and
// Herd-Sync (the operation); payloads are ASCII, hashes 16 lower-case hex
// digits, numbers decimal, separated by single spaces:
//
//	root     request: <root>                       (the XOR of all group sums)
//	         reply:   Herd-Sync: equal, no payload — in sync, done; or
//	         reply:   Herd-Sync: groups, <64 group sums>
//	buckets  request: <group> <group> ...          (the groups that differ)
//	         reply:   one line per group: <group> <64 bucket sums>
//	records  request: <bucket> <bucket> ...        (the buckets that differ)
//	                  then the requester's AT lines of those buckets, one a line
//	         reply:   a stream to the reply subject, each message one or more
//	                  AT lines (Herd-Sync: records), then one message with
//	                  Herd-Sync: end. The lines are the responder's records of
//	                  those buckets that are newer than the requester's or
//	                  whose client the requester does not have.
//
// A responder that refuses (the sender is not its neighbor, or the request
// is malformed) replies Herd-Sync: refused.
//
// A periodic exchange compares settled records only (scope.go): each of
// its requests carries Herd-Cutoff: <Unix ns>, and sums, bucket sums and
// records are then those of the settled records at that cutoff (records
// whose origin time is before it). A responder whose own cutoff is ahead
// (cutoffs never move back) replies Herd-Sync: cutoff with its cutoff as
// payload; the requester moves to it and asks again, once. A request
// without Herd-Cutoff compares every record, as before settled exchanges
// existed, so a node of an older build still syncs with a newer one.
const (
	SubjectPrefix = "herd.sync."
	HeaderSync    = "Herd-Sync"

	opRoot    = "root"
	opEqual   = "equal"
	opGroups  = "groups"
	opBuckets = "buckets"
	opRecords = "records"
	opEnd     = "end"
	opRefused = "refused"
	opCutoff  = "cutoff"
)

// Subject is the anti-entropy subject a node answers on.
func Subject(node string) string { return SubjectPrefix + node }

var errMalformed = errors.New("malformed sync message")

func appendHash(dst []byte, h uint64) []byte {
	const hexd = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexd[(h>>uint(shift))&0xf])
	}
	return dst
}

func appendHashes(dst []byte, hs []uint64) []byte {
	for i, h := range hs {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendHash(dst, h)
	}
	return dst
}

func parseHash(b []byte) (uint64, error) {
	if len(b) != 16 {
		return 0, errMalformed
	}
	h, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return 0, errMalformed
	}
	return h, nil
}

// parseHashes parses exactly len(dst) space-separated hashes.
func parseHashes(b []byte, dst []uint64) error {
	i := 0
	for f := range bytes.SplitSeq(b, []byte{' '}) {
		if i == len(dst) {
			return errMalformed
		}
		h, err := parseHash(f)
		if err != nil {
			return err
		}
		dst[i] = h
		i++
	}
	if i != len(dst) {
		return errMalformed
	}
	return nil
}

func appendInts(dst []byte, ns []int) []byte {
	for i, n := range ns {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	return dst
}

// parseInts parses space-separated distinct integers in [0, limit).
func parseInts(b []byte, limit int) ([]int, error) {
	if len(b) == 0 {
		return nil, nil
	}
	seen := make(map[int]bool)
	var out []int
	for f := range bytes.SplitSeq(b, []byte{' '}) {
		if len(f) == 0 || len(f) > 5 {
			return nil, errMalformed
		}
		n, err := strconv.Atoi(string(f))
		if err != nil || n < 0 || n >= limit || seen[n] {
			return nil, errMalformed
		}
		seen[n] = true
		out = append(out, n)
	}
	return out, nil
}

// appendGroupLine appends "<group> <64 bucket sums>".
func appendGroupLine(dst []byte, g int, sums *[digest.GroupSize]uint64) []byte {
	dst = strconv.AppendInt(dst, int64(g), 10)
	dst = append(dst, ' ')
	return appendHashes(dst, sums[:])
}

// parseGroupLine parses "<group> <64 bucket sums>".
func parseGroupLine(line []byte, sums *[digest.GroupSize]uint64) (int, error) {
	gs, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return 0, errMalformed
	}
	g, err := parseInts(gs, digest.Groups)
	if err != nil || len(g) != 1 {
		return 0, errMalformed
	}
	if err := parseHashes(rest, sums[:]); err != nil {
		return 0, err
	}
	return g[0], nil
}
