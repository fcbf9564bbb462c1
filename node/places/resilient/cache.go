package resilient

import (
	"container/list"
	"sync"
	"time"

	"github.com/herdhq/herd/node/places"
)

// cache is a size-bounded LRU of responses, each fresh for a fixed TTL.
// Expired entries are dropped when met, and least recently used ones when
// the cache is full.
type cache struct {
	size  int
	ttl   time.Duration
	clock Clock

	// mu guards ll and items.
	mu    sync.Mutex
	ll    *list.List // of *entry, most recently used at the front
	items map[string]*list.Element
}

type entry struct {
	key     string
	resp    places.Response
	expires time.Time
}

func newCache(size int, ttl time.Duration, clock Clock) *cache {
	return &cache{size: size, ttl: ttl, clock: clock, ll: list.New(), items: make(map[string]*list.Element)}
}

func (c *cache) enabled() bool { return c.size > 0 && c.ttl > 0 }

// get returns a fresh answer for key.
func (c *cache) get(key string) (places.Response, bool) {
	if !c.enabled() {
		return places.Response{}, false
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return places.Response{}, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, key)
		return places.Response{}, false
	}
	c.ll.MoveToFront(el)
	return e.resp, true
}

// put stores an answer, evicting the least recently used one if full.
func (c *cache) put(key string, r places.Response) {
	if !c.enabled() {
		return
	}
	exp := c.clock.Now().Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*entry)
		e.resp, e.expires = r, exp
		c.ll.MoveToFront(el)
		return
	}
	c.items[key] = c.ll.PushFront(&entry{key: key, resp: r, expires: exp})
	for c.ll.Len() > c.size {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*entry).key)
	}
}

// len is how many entries are held, fresh or not yet found expired.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
