package live

import (
	"testing"
	"time"
)

// TestView_broadcast: a browser that stops reading never holds up the
// others; once it has missed a whole buffer of frames it is dropped.
func TestView_broadcast(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ViewerBuffer = 2
	v := newView(cfg, nil)
	slow, err := v.addViewer()
	if err != nil {
		t.Fatal(err)
	}
	fast, err := v.addViewer()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		v.broadcast([]byte{byte(i)})
		<-fast.ch // the fast one reads every frame
	}
	select {
	case <-slow.gone:
	default:
		t.Fatal("slow viewer not dropped after missing a buffer of frames")
	}
	if n := v.viewerCount(); n != 1 {
		t.Errorf("viewerCount = %d, want 1 (the fast one)", n)
	}
	if got := len(slow.ch); got != 2 {
		t.Errorf("slow viewer holds %d frames, want its buffer of 2", got)
	}
}

func TestView_maxViewers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxViewers = 1
	v := newView(cfg, nil)
	if _, err := v.addViewer(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.addViewer(); err != errTooManyViewers {
		t.Errorf("second viewer: %v, want errTooManyViewers", err)
	}
}

func TestRater_add(t *testing.T) {
	var r rater
	t0 := time.Unix(1000, 0)
	for _, tt := range []struct {
		at    time.Duration
		iamat uint64
		want  float64
	}{
		{0, 0, 0},
		{250 * time.Millisecond, 100, 400},
		{500 * time.Millisecond, 200, 400},
		{time.Second, 1000, 1000},
		{1500 * time.Millisecond, 1000, 800}, // window: 0.5 s → 1.5 s
		{2500 * time.Millisecond, 1000, 0},   // nothing new for a second
		{2750 * time.Millisecond, 10, 0},     // counter reset
	} {
		got := r.add(t0.Add(tt.at), NodeStats{IAMAT: tt.iamat})
		if got.IAMAT != tt.want {
			t.Errorf("at %v with %d IAMATs: rate %v, want %v", tt.at, tt.iamat, got.IAMAT, tt.want)
		}
	}
}
