package storage

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/herdhq/herd/bus/record"
)

// Replay puts records from several goroutines. The loader reads each file
// in order and checks its frames (length, CRC, control entries), copies
// the record payloads into batches and hands them to workers, which parse
// them and put them into the store. Put keeps the newest record of each
// client whatever the order records arrive in, so workers need no order
// among themselves, and parsing and filling the store — most of a
// restart's time — spread over the cores.
const (
	// maxReplayWorkers bounds the workers: beyond a few, the loader that
	// reads and checks frames is the limit.
	maxReplayWorkers = 8
	// batchRecords and batchBytes bound a batch: large enough that handing
	// it over costs little per record, small enough that every worker has
	// one soon.
	batchRecords = 512
	batchBytes   = 64 << 10
	// batchesPerWorker batches circulate per worker: the loader fills one
	// while the workers put others.
	batchesPerWorker = 4
)

// batch is record payloads of one file, back to back in buf.
type batch struct {
	file string
	buf  []byte
	ends []int   // end of each payload in buf
	offs []int64 // file offset of each payload's frame
}

func (b *batch) reset(file string) {
	b.file, b.buf, b.ends, b.offs = file, b.buf[:0], b.ends[:0], b.offs[:0]
}

func (b *batch) full() bool { return len(b.ends) >= batchRecords || len(b.buf) >= batchBytes }

// replayer is the workers and the batches they share with the loader.
type replayer struct {
	st   Store
	work chan *batch // loader → workers
	free chan *batch // workers → loader
	cur  *batch      // the batch the loader fills; nil when none

	workers sync.WaitGroup
	pending sync.WaitGroup // batches handed to workers and not yet put

	mu  sync.Mutex    // guards bad
	bad *CorruptError // the first record that did not parse, by offset
}

// newReplayer starts the workers.
func newReplayer(st Store) *replayer {
	n := max(1, min(runtime.GOMAXPROCS(0), maxReplayWorkers))
	r := &replayer{
		st:   st,
		work: make(chan *batch, n*batchesPerWorker),
		free: make(chan *batch, n*batchesPerWorker),
	}
	for range n * batchesPerWorker {
		r.free <- &batch{buf: make([]byte, 0, batchBytes+4<<10)}
	}
	r.workers.Add(n)
	for range n {
		go r.run()
	}
	return r
}

// put queues the record payload p, at off in file, to be parsed and put.
// It is valid only until put returns: put copies it.
func (r *replayer) put(p []byte, file string, off int64) {
	if r.cur != nil && r.cur.file != file {
		r.flush()
	}
	if r.cur == nil {
		r.cur = <-r.free
		r.cur.reset(file)
	}
	b := r.cur
	b.buf = append(b.buf, p...)
	b.ends = append(b.ends, len(b.buf))
	b.offs = append(b.offs, off)
	if b.full() {
		r.flush()
	}
}

// flush hands the batch being filled to the workers.
func (r *replayer) flush() {
	if r.cur == nil {
		return
	}
	r.pending.Add(1)
	r.work <- r.cur
	r.cur = nil
}

// wait puts every record queued so far and returns the first of them
// that did not parse (in file order: the loader waits at the end of each
// file), or nil.
func (r *replayer) wait() error {
	r.flush()
	r.pending.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad != nil {
		return r.bad
	}
	return nil
}

// failed reports whether a record did not parse: the loader stops reading.
func (r *replayer) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bad != nil
}

// stop ends the workers once every queued record is put.
func (r *replayer) stop() {
	r.wait()
	close(r.work)
	r.workers.Wait()
}

func (r *replayer) run() {
	defer r.workers.Done()
	for b := range r.work {
		r.putBatch(b)
		r.free <- b
		r.pending.Done()
	}
}

// putBatch parses and puts b's records, up to the first that does not
// parse. A record's Line aliases b.buf: the store copies what it keeps.
func (r *replayer) putBatch(b *batch) {
	start := 0
	for i, end := range b.ends {
		rec, err := record.ParseView(b.buf[start:end])
		start = end
		if err != nil {
			r.report(&CorruptError{File: b.file, Offset: b.offs[i], Err: ErrCorrupt,
				Detail: fmt.Sprintf("entry is not an AT record: %v", err)})
			return
		}
		r.st.PutView(rec)
	}
}

// report keeps err if it is the first bad record so far. Batches of one
// file are put at once, so the first is the lowest offset.
func (r *replayer) report(err *CorruptError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad == nil || err.File == r.bad.File && err.Offset < r.bad.Offset {
		r.bad = err
	}
}
