package storage

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// On-disk format (version 1). Both kinds of file, log segments and
// snapshots, are a header followed by frames:
//
//	header: magic (8 bytes) | version uint32 LE | CRC-32C of the first 12 bytes, uint32 LE
//	frame:  length uint32 LE | CRC-32C of the length bytes and payload, uint32 LE | payload
//
// A payload is a record's AT line (it starts with 'A'), or a control
// entry: 0x00 | kind | uint64 LE count of record frames in the file. A log
// segment ends with a seal when it is closed in order; a snapshot always
// ends with its end entry. The CRC covers the length, so a damaged length
// is caught like damaged data; lengths are bounded by MaxRecordBytes.
const (
	headerLen  = 16
	frameHead  = 8
	version    = 1
	controlLen = 10 // 0x00, kind, uint64 count
)

// Magic numbers of the two kinds of file.
var (
	logMagic  = [8]byte{'H', 'E', 'R', 'D', 'L', 'O', 'G', 0}
	snapMagic = [8]byte{'H', 'E', 'R', 'D', 'S', 'N', 'P', 0}
)

// Control entry kinds.
const (
	ctlSeal byte = 1 // a log segment closed in order
	ctlEnd  byte = 2 // the end of a snapshot
)

// castagnoli is CRC-32C, computed in hardware on amd64 and arm64. The
// table is read-only.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Frame decoding failures. errShort means b ends inside the frame.
var (
	errShort     = errors.New("short frame")
	errBadLength = errors.New("bad frame length or kind")
	errChecksum  = errors.New("checksum mismatch")
	errHeader    = errors.New("bad file header")
)

func appendHeader(dst []byte, magic [8]byte) []byte {
	start := len(dst)
	dst = append(dst, magic[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, version)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// checkHeader checks a file's first headerLen bytes.
func checkHeader(b []byte, magic [8]byte) error {
	if len(b) < headerLen {
		return errShort
	}
	if [8]byte(b[:8]) != magic ||
		binary.LittleEndian.Uint32(b[8:]) != version ||
		binary.LittleEndian.Uint32(b[12:]) != crc32.Checksum(b[:12], castagnoli) {
		return errHeader
	}
	return nil
}

// appendRecordFrame appends the frame of one AT line to dst. It allocates
// only when dst must grow.
func appendRecordFrame[T string | []byte](dst []byte, line T) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(line)))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, line...)
	sealFrame(dst[start:])
	return dst
}

// appendControlFrame appends a control entry of kind with count.
func appendControlFrame(dst []byte, kind byte, count uint64) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, controlLen)
	dst = append(dst, 0, 0, 0, 0, 0, kind)
	dst = binary.LittleEndian.AppendUint64(dst, count)
	sealFrame(dst[start:])
	return dst
}

// sealFrame fills in the CRC of the frame f (length and payload set).
func sealFrame(f []byte) {
	crc := crc32.Update(crc32.Checksum(f[:4], castagnoli), castagnoli, f[frameHead:])
	binary.LittleEndian.PutUint32(f[4:], crc)
}

// decodeFrame decodes the frame at the start of b and returns its payload
// (aliasing b) and the frame's length. A pure function over bytes: the
// fuzz target's subject.
func decodeFrame(b []byte) (payload []byte, n int, err error) {
	if len(b) < frameHead {
		return nil, 0, errShort
	}
	l := binary.LittleEndian.Uint32(b)
	if l == 0 || l > MaxRecordBytes {
		return nil, 0, errBadLength
	}
	n = frameHead + int(l)
	// A payload is an AT line or a control entry: checking its first bytes
	// rejects most non-frames without hashing up to MaxRecordBytes, which
	// keeps scanning damaged bytes for the next frame fast.
	switch p := b[frameHead:min(len(b), frameHead+3)]; {
	case len(p) > 0 && p[0] == 0:
		if l != controlLen {
			return nil, 0, errBadLength
		}
	case len(p) == 3 && string(p) != "AT ", len(p) > 0 && p[0] != 'A', l < 3:
		return nil, 0, errBadLength
	}
	if len(b) < n {
		return nil, n, errShort
	}
	crc := crc32.Update(crc32.Checksum(b[:4], castagnoli), castagnoli, b[frameHead:n])
	if crc != binary.LittleEndian.Uint32(b[4:]) {
		return nil, n, errChecksum
	}
	return b[frameHead:n], n, nil
}

// control decodes a control entry; ok is false for a record payload.
// A payload that is neither is reported as kind 0 (invalid).
func control(p []byte) (kind byte, count uint64, ok bool) {
	if p[0] != 0 {
		return 0, 0, false
	}
	if len(p) != controlLen {
		return 0, 0, true
	}
	return p[1], binary.LittleEndian.Uint64(p[2:]), true
}
