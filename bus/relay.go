package bus

// RelayObserver is an optional extension of Observer: an Observer that also
// implements it is told which published records were relays of records
// another node originated (Published counts them too).
type RelayObserver interface {
	Relayed(to string, n int)
}

// observeRelayed tells the observer about a relayed group, if it asks.
func (b *Bus) observeRelayed(k groupKey, n int) {
	if k.origin == b.cfg.Name {
		return
	}
	if ro, ok := b.cfg.Observe.(RelayObserver); ok {
		ro.Relayed(k.to, n)
	}
}
