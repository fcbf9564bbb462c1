package store

// pending holds, by origin second, the keys of the clients whose settled
// hash changes when a shard's cursor passes that second (settle.go).
// Nearly every record the herd stores is queued here once, a few seconds
// ahead of the cursor, so the seconds just ahead of it are a ring of
// slices that are emptied and refilled in place — no map operation and,
// once warm, no allocation per record — and the rare seconds further
// ahead (an origin whose clock runs fast, a cursor that anti-entropy has
// not moved lately) wait in a map.
type pending struct {
	// ring[sec%pendingRing] holds the keys due at sec, for every sec in
	// [cursor, cursor+pendingRing) of the shard's cursor.
	ring [pendingRing][]uint64
	far  map[uint32][]uint64 // the keys due at later seconds
}

// pendingRing is the seconds the ring spans ahead of the cursor:
// anti-entropy keeps the cursor a few seconds (the settle age) behind the
// clock.
const pendingRing = 16

// add queues key for sec, which is at or after cursor.
func (p *pending) add(cursor, sec uint32, key uint64) {
	if sec-cursor < pendingRing {
		i := sec % pendingRing
		p.ring[i] = append(p.ring[i], key)
		return
	}
	if p.far == nil {
		p.far = make(map[uint32][]uint64)
	}
	p.far[sec] = append(p.far[sec], key)
}

// due calls fn for every key queued for a second in [from, to), the
// cursor moving from from to to, and forgets them. fn may add keys for
// seconds at or after to.
func (p *pending) due(from, to uint32, fn func(key uint64)) {
	for sec := from; sec < to && sec-from < pendingRing; sec++ {
		i := sec % pendingRing
		keys := p.ring[i]
		if len(keys) == 0 {
			continue
		}
		// fn may queue keys for sec+pendingRing, which share the slot.
		p.ring[i] = nil
		for _, key := range keys {
			fn(key)
		}
		if len(p.ring[i]) == 0 {
			p.ring[i] = keys[:0]
		}
	}
	var dueFar []uint32
	for sec := range p.far {
		if sec < to {
			dueFar = append(dueFar, sec)
		}
	}
	for _, sec := range dueFar {
		keys := p.far[sec]
		delete(p.far, sec)
		for _, key := range keys {
			fn(key)
		}
	}
}
