package store

import (
	"slices"
	"testing"
)

// Every queued key comes due exactly once, when the cursor passes its
// second — whether it waited in the ring or further ahead, whether the
// cursor moves by one second or past the whole ring at once, and when a
// key comes due and is queued again for the second that shares its slot.
func TestPending_Due(t *testing.T) {
	var p pending
	cursor := uint32(1000)
	want := map[uint64]uint32{} // key: its second
	for k, sec := range []uint32{1000, 1001, 1005, 1015, 1016, 1017, 1031, 1100, 5000} {
		p.add(cursor, sec, uint64(k))
		want[uint64(k)] = sec
	}
	requeued := false
	for _, to := range []uint32{1001, 1002, 1003, 1016, 1017, 1040, 1101, 6000} {
		var got []uint64
		p.due(cursor, to, func(key uint64) {
			got = append(got, key)
			if key == 2 && !requeued { // due at 1005: queue again for 1021, its slot's next second
				requeued = true
				p.add(to, 1005+pendingRing, 100)
				want[100] = 1005 + pendingRing
			}
		})
		for _, key := range got {
			sec, ok := want[key]
			if !ok {
				t.Fatalf("cursor %d→%d: key %d due twice or never queued", cursor, to, key)
			}
			if sec >= to || sec < cursor {
				t.Fatalf("cursor %d→%d: key %d of second %d due", cursor, to, key, sec)
			}
			delete(want, key)
		}
		for key, sec := range want {
			if sec < to && !slices.Contains(got, key) {
				t.Fatalf("cursor %d→%d: key %d of second %d not due", cursor, to, key, sec)
			}
		}
		cursor = to
	}
	if len(want) != 0 || !requeued {
		t.Fatalf("never due: %v (requeued %v)", want, requeued)
	}
}
