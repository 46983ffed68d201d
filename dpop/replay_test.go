package dpop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryReplayCacheTTL(t *testing.T) {
	c := newClock()
	rc := NewMemoryReplayCache(64, c.Now)
	ctx := context.Background()
	seen, err := rc.Seen(ctx, "a", c.Now().Add(10*time.Second))
	if err != nil || seen {
		t.Fatalf("first: %v %v", seen, err)
	}
	seen, err = rc.Seen(ctx, "a", c.Now().Add(10*time.Second))
	if err != nil || !seen {
		t.Fatalf("second: %v %v", seen, err)
	}
	c.Add(10*time.Second - time.Nanosecond)
	if seen, _ := rc.Seen(ctx, "a", c.Now().Add(time.Second)); !seen {
		t.Fatal("forgotten before expiry")
	}
	c.Add(time.Nanosecond)
	if seen, _ := rc.Seen(ctx, "a", c.Now().Add(10*time.Second)); seen {
		t.Fatal("remembered past expiry")
	}
	// The re-recorded key lives by its new expiry, not the stale queue entry.
	c.Add(5 * time.Second)
	if seen, _ := rc.Seen(ctx, "a", c.Now()); !seen {
		t.Fatal("re-recorded key forgotten early")
	}
	if n := rc.Len(); n != 1 {
		t.Fatalf("Len %d, want 1", n)
	}
}

// Bounded: at capacity, new keys are refused (never a live key evicted,
// which would re-open its replay window) until entries expire.
func TestMemoryReplayCacheBounded(t *testing.T) {
	c := newClock()
	const capacity = 16 * 8
	rc := NewMemoryReplayCache(capacity, c.Now)
	ctx := context.Background()
	accepted, full := 0, 0
	for i := 0; i < 4*capacity; i++ {
		seen, err := rc.Seen(ctx, fmt.Sprint("k", i), c.Now().Add(time.Minute))
		switch {
		case errors.Is(err, ErrReplayCacheFull):
			full++
		case err != nil || seen:
			t.Fatalf("key %d: %v %v", i, seen, err)
		default:
			accepted++
		}
	}
	if accepted > capacity || rc.Len() != accepted {
		t.Fatalf("accepted %d, Len %d, capacity %d", accepted, rc.Len(), capacity)
	}
	if accepted < capacity/2 || full != 4*capacity-accepted {
		t.Fatalf("accepted %d full %d", accepted, full)
	}
	// Every accepted key is still remembered.
	for i := 0; i < 4*capacity; i++ {
		seen, err := rc.Seen(ctx, fmt.Sprint("k", i), c.Now().Add(time.Minute))
		if err == nil && !seen {
			t.Fatalf("key %d newly accepted while full", i)
		}
	}
	c.Add(time.Minute)
	if seen, err := rc.Seen(ctx, "fresh", c.Now().Add(time.Minute)); err != nil || seen {
		t.Fatalf("after expiry: %v %v", seen, err)
	}
	if n := rc.Len(); n != 1 {
		t.Fatalf("Len after expiry %d, want 1", n)
	}
}

// A short-lived entry behind a long-lived one at the queue front is still
// reclaimed when the shard fills (sweep), not only from the front.
func TestMemoryReplayCacheSweep(t *testing.T) {
	c := newClock()
	rc := NewMemoryReplayCache(replayShards*2, c.Now)
	ctx := context.Background()
	// Find three keys in one shard.
	var keys []string
	for i := 0; len(keys) < 3; i++ {
		if k := fmt.Sprint("s", i); shardOf(k) == 0 {
			keys = append(keys, k)
		}
	}
	must(t, errOnly(rc.Seen(ctx, keys[0], c.Now().Add(time.Hour))))
	must(t, errOnly(rc.Seen(ctx, keys[1], c.Now().Add(time.Second))))
	if _, err := rc.Seen(ctx, keys[2], c.Now().Add(time.Hour)); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("third key in a 2-slot shard: %v", err)
	}
	c.Add(time.Second)
	if seen, err := rc.Seen(ctx, keys[2], c.Now().Add(time.Hour)); err != nil || seen {
		t.Fatalf("after the short entry expired: %v %v", seen, err)
	}
	if seen, _ := rc.Seen(ctx, keys[0], c.Now().Add(time.Hour)); !seen {
		t.Fatal("long-lived entry lost in sweep")
	}
}

func errOnly(_ bool, err error) error { return err }

// Of many concurrent presentations of one proof exactly one is accepted.
func TestConcurrentReplayExactlyOnce(t *testing.T) {
	c := newClock()
	v := newVerifier(c)
	p := proof(t, ecKey(t), "GET", testURL, testToken, c.Now())
	const n = 64
	var ok, reused atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(p, "GET", testURL, testToken)
			if err == nil {
				ok.Add(1)
			} else if _, r := Reason(err); r == "jti reused" {
				reused.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || reused.Load() != n-1 {
		t.Fatalf("accepted %d, reused %d; want 1, %d", ok.Load(), reused.Load(), n-1)
	}
}

func TestMemoryReplayCacheQueueCompacts(t *testing.T) {
	c := newClock()
	rc := NewMemoryReplayCache(1<<16, c.Now)
	ctx := context.Background()
	for i := range 100000 {
		must(t, errOnly(rc.Seen(ctx, fmt.Sprint("q", i), c.Now().Add(time.Second))))
		c.Add(time.Millisecond)
	}
	// Just under one second's worth (999 keys) is live; the queues must not
	// have kept the other 99,000.
	total := 0
	for i := range rc.shards {
		total += cap(rc.shards[i].q)
	}
	if n := rc.Len(); n != 999 { // the clock moved 1 ms past the last insert
		t.Fatalf("Len %d, want 999", n)
	}
	if total > 16*4096 {
		t.Fatalf("queue capacity %d after 100k keys with ~1k live", total)
	}
}
