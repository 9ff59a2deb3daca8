package gemini

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genai"
)

// Backoff of retried failures that carry no retry delay: exponential from
// baseBackoff, doubled per attempt, with jitter, capped by MaxRetryDelay.
const baseBackoff = time.Second

// unavailableError is a failure with the reason an analysis shows. Its
// text never holds the API key.
type unavailableError struct{ reason string }

func (e *unavailableError) Error() string { return e.reason }

func unavailable(format string, args ...any) error {
	return &unavailableError{reason: fmt.Sprintf(format, args...)}
}

// retryable reports whether err deserves another attempt, and the delay
// the server asked for (0 when it asked for none).
func retryable(err error) (bool, time.Duration) {
	var api genai.APIError
	if errors.As(err, &api) {
		switch {
		case api.Code == 408, api.Code == 429, api.Code >= 500 && api.Code <= 599:
			return true, retryInfoDelay(api.Details)
		}
		return false, 0
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false, 0
	}
	var ue *unavailableError
	if errors.As(err, &ue) {
		return false, 0
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true, 0
	}
	// Other transport failures (connection reset, unexpected EOF) are
	// worth a retry; a body that does not decode is not.
	return !strings.Contains(err.Error(), "unmarshal"), 0
}

// retryInfoDelay returns the retryDelay of a google.rpc.RetryInfo detail,
// or 0.
func retryInfoDelay(details []map[string]any) time.Duration {
	for _, d := range details {
		t, _ := d["@type"].(string)
		if !strings.HasSuffix(t, "google.rpc.RetryInfo") {
			continue
		}
		if d, ok := parseProtoDuration(d["retryDelay"]); ok {
			return d
		}
	}
	return 0
}

// parseProtoDuration reads a google.protobuf.Duration in its JSON form
// ("1.5s") or as an object {"seconds": …, "nanos": …}.
func parseProtoDuration(v any) (time.Duration, bool) {
	switch x := v.(type) {
	case string:
		s, ok := strings.CutSuffix(strings.TrimSpace(x), "s")
		if !ok {
			return 0, false
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || math.IsNaN(f) || f > 1e9 {
			return 0, false
		}
		return time.Duration(f * float64(time.Second)), true
	case map[string]any:
		sec, _ := toFloat(x["seconds"])
		nanos, _ := toFloat(x["nanos"])
		if sec < 0 || sec > 1e9 || nanos < 0 {
			return 0, false
		}
		return time.Duration(sec)*time.Second + time.Duration(nanos), true
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// backoff returns the wait before attempt+1 when the server asked for
// none: baseBackoff·2^(attempt-1), capped by limit, then scaled by a
// jitter factor in [0.5, 1) from r, a number in [0, 1).
func backoff(attempt int, limit time.Duration, r float64) time.Duration {
	d := baseBackoff << min(attempt-1, 30)
	if d <= 0 || d > limit {
		d = limit
	}
	return time.Duration(float64(d) * (0.5 + 0.5*r))
}

// wait sleeps for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// describe turns a failure of the last attempt into the reason an
// analysis shows, without the key.
func describe(err error, attempts int, key string) string {
	var ue *unavailableError
	if errors.As(err, &ue) {
		return scrubSecret(ue.reason, key)
	}
	after := ""
	if attempts > 1 {
		after = fmt.Sprintf(" after %d attempts", attempts)
	}
	var api genai.APIError
	if errors.As(err, &api) {
		status := strings.TrimSpace(fmt.Sprintf("%d %s", api.Code, api.Status))
		msg := truncate(scrubSecret(api.Message, key), 200)
		switch {
		case api.Code == 429:
			return "quota exhausted (" + status + ")" + after
		case api.Code >= 500:
			return "server error (" + status + ")" + after
		case api.Code == 408:
			return "timeout (" + status + ")" + after
		case api.Code == 401 || api.Code == 403:
			return "not authorised (" + status + "): " + msg
		case api.Code == 404:
			return "model not found (" + status + "): " + msg
		}
		return "request rejected (" + status + "): " + msg
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	return "network error" + after + ": " + truncate(scrubSecret(err.Error(), key), 200)
}
