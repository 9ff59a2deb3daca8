package target_test

import (
	"encoding/json"
	"errors"
	"flag"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

func TestParseProfile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want target.Profile
		err  string
	}{
		{in: "", want: target.Healthy},
		{in: "healthy", want: target.Healthy},
		{in: " Degrade ", want: target.Degrade},
		{in: "leak", want: target.Leak},
		{in: "SATURATE", want: target.Saturate},
		{in: "errors", want: target.ErrorBurst},
		{in: "error", err: `unknown profile "error": want one of healthy, degrade, leak, saturate, errors`},
		{in: "spike", err: `unknown profile "spike"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := target.ParseProfile(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := target.ParseProfile(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "parse(format(x)) == x")
		})
	}
}

func FuzzParseProfile(f *testing.F) {
	for _, s := range []string{"", "healthy", "degrade", "leak", "saturate", "errors", " Leak", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := target.ParseProfile(s)
		if err != nil {
			return
		}
		again, err := target.ParseProfile(p.String())
		require.NoError(t, err)
		require.Equal(t, p, again)
	})
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  target.Config
		errs []string // one line per problem, in field order
	}{
		{name: "zero is valid", cfg: target.Config{}},
		{name: "everything set", cfg: target.Config{
			Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, CPUWork: time.Millisecond, ErrorRate: 0.05, Seed: 9,
			Profile: target.Saturate, FaultAfter: 20 * time.Second, FaultFor: 10 * time.Second, DegradeFactor: 2,
			DegradeAdd: time.Millisecond, LeakPerRequest: 1 << 10, LeakMax: 1 << 20, Slots: 4, Hold: time.Millisecond,
			BurstErrorRate: 0.5, ShutdownGrace: time.Second,
		}},
		{name: "profile spelt healthy", cfg: target.Config{Profile: "healthy"}},
		{name: "every problem at once", cfg: target.Config{
			Latency: -time.Millisecond, Jitter: 2 * time.Minute, CPUWork: -1, ErrorRate: 1.5, Profile: "boom",
			FaultAfter: -time.Second, FaultFor: -time.Second, DegradeFactor: 0.5, DegradeAdd: -1,
			LeakPerRequest: -1, LeakMax: 1 << 40, Slots: -1, Hold: -1, BurstErrorRate: -0.1, ShutdownGrace: -1,
		}, errs: []string{
			"latency: must be in [0, 1m0s], got -1ms",
			"jitter: must be in [0, 1m0s], got 2m0s",
			"cpuWork: must be in [0, 1m0s], got -1ns",
			"errorRate: must be in [0, 1], got 1.5",
			`profile: unknown profile "boom": want one of healthy, degrade, leak, saturate, errors`,
			"faultAfter: must be >= 0, got -1s",
			"faultFor: must be >= 0, got -1s",
			"degradeFactor: must be 0 (default 3) or in [1, 1000], got 0.5",
			"degradeAdd: must be in [0, 1m0s], got -1ns",
			"leakMax: must be in [0, 4294967296] bytes, got 1099511627776",
			"leakPerRequest: must be in [0, leakMax=1099511627776] bytes, got -1",
			"slots: must be in [0, 65536], got -1",
			"hold: must be in [0, 1m0s], got -1ns",
			"burstErrorRate: must be in [0, 1], got -0.1",
			"shutdownGrace: must be in [0, 10m0s], got -1ns",
		}},
		{name: "NaN rate", cfg: target.Config{ErrorRate: math.NaN()}, errs: []string{"errorRate: must be in [0, 1], got NaN"}},
		{name: "leak per request above the cap", cfg: target.Config{LeakPerRequest: 2 << 10, LeakMax: 1 << 10},
			errs: []string{"leakPerRequest: must be in [0, leakMax=1024] bytes, got 2048"}},
		{name: "leak per request above the default cap", cfg: target.Config{LeakPerRequest: 512 << 20},
			errs: []string{"leakPerRequest: must be in [0, leakMax=268435456] bytes, got 536870912"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			_, newErr := target.New(tc.cfg)
			if len(tc.errs) == 0 {
				require.NoError(t, err)
				require.NoError(t, newErr)
				return
			}
			require.Error(t, err)
			assert.Equal(t, strings.Join(tc.errs, "\n"), err.Error())
			assert.Equal(t, err.Error(), newErr.Error(), "New reports what Validate does")
			var joined interface{ Unwrap() []error }
			require.True(t, errors.As(err, &joined))
			assert.Len(t, joined.Unwrap(), len(tc.errs))
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	srv, err := target.New(target.Config{Profile: target.ErrorBurst})
	require.NoError(t, err)
	defer srv.Close()
	got := srv.Config()
	assert.Equal(t, target.DefaultDegradeFactor, got.DegradeFactor)
	assert.Equal(t, target.DefaultDegradeAdd, got.DegradeAdd)
	assert.Equal(t, int64(target.DefaultLeakPerRequest), got.LeakPerRequest)
	assert.Equal(t, int64(target.DefaultLeakMax), got.LeakMax)
	assert.Equal(t, target.DefaultSlots, got.Slots)
	assert.Equal(t, target.DefaultHold, got.Hold)
	assert.Equal(t, target.DefaultBurstErrorRate, got.BurstErrorRate)
	assert.Equal(t, target.DefaultBurstFor, got.FaultFor)
	assert.Equal(t, target.DefaultShutdownGrace, got.ShutdownGrace)
	assert.NotNil(t, got.Now)
	assert.NotNil(t, got.Logger)
}

func TestRegisterFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		prefix string
		args   []string
		want   target.Config
		err    string
	}{
		{name: "the CLI's example", args: strings.Fields("--latency 5ms --jitter 2ms --errors 0.05 --profile leak --fault-after 20s"),
			want: target.Config{Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, ErrorRate: 0.05, Profile: target.Leak, FaultAfter: 20 * time.Second}},
		{name: "every flag", args: strings.Fields("-cpu-work 1ms -seed 7 -fault-for 1m -degrade-factor 2 -degrade-add 15 -leak-per-request 8KiB -leak-max 64MiB -slots 16 -hold 250us -burst-errors 0.2"),
			want: target.Config{CPUWork: time.Millisecond, Seed: 7, FaultFor: time.Minute, DegradeFactor: 2, DegradeAdd: 15 * time.Millisecond,
				LeakPerRequest: 8 << 10, LeakMax: 64 << 20, Slots: 16, Hold: 250 * time.Microsecond, BurstErrorRate: 0.2}},
		{name: "prefixed", prefix: "target-", args: strings.Fields("--target-profile saturate --target-slots 3"),
			want: target.Config{Profile: target.Saturate, Slots: 3}},
		{name: "bad profile", args: []string{"--profile", "boom"}, err: `unknown profile "boom"`},
		{name: "bad duration", args: []string{"--latency", "fast"}, err: `invalid duration "fast"`},
		{name: "bad size", args: []string{"--leak-max", "12XB"}, err: `invalid byte size "12XB"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg target.Config
			fs := flag.NewFlagSet("target", flag.ContinueOnError)
			fs.SetOutput(new(strings.Builder))
			cfg.RegisterFlags(fs, tc.prefix)
			err := fs.Parse(tc.args)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg)
			require.NoError(t, cfg.Validate())
		})
	}
}

func TestRegisterFlagsDefaultsAreCurrentValues(t *testing.T) {
	t.Parallel()
	cfg := target.Config{Latency: 3 * time.Millisecond, Profile: target.Degrade, LeakMax: 1 << 20}
	fs := flag.NewFlagSet("target", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "")
	assert.Equal(t, "3ms", fs.Lookup("latency").DefValue)
	assert.Equal(t, "degrade", fs.Lookup("profile").DefValue)
	assert.Equal(t, "1MiB", fs.Lookup("leak-max").DefValue)
	assert.Equal(t, "0", fs.Lookup("leak-per-request").DefValue)
}

func TestConfigJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want target.Config
		out  string // canonical encoding
		err  string
	}{
		{name: "empty", in: `{}`, out: `{}`},
		{name: "k6 strings", in: `{"latency":"5ms","jitter":"2ms","errorRate":0.05,"profile":"leak","faultAfter":"20s","leakMax":1048576}`,
			want: target.Config{Latency: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, ErrorRate: 0.05, Profile: target.Leak, FaultAfter: 20 * time.Second, LeakMax: 1 << 20},
			out:  `{"latency":"5ms","jitter":"2ms","errorRate":0.05,"profile":"leak","faultAfter":"20s","leakMax":1048576}`},
		{name: "milliseconds", in: `{"hold":250,"profile":"saturate","slots":4}`,
			want: target.Config{Hold: 250 * time.Millisecond, Profile: target.Saturate, Slots: 4},
			out:  `{"profile":"saturate","slots":4,"hold":"250ms"}`},
		{name: "healthy", in: `{"profile":"healthy"}`, out: `{}`},
		{name: "bad profile", in: `{"profile":"boom"}`, err: `unknown profile "boom"`},
		{name: "bad duration", in: `{"latency":"soon"}`, err: `invalid duration "soon"`},
		{name: "duration of the wrong type", in: `{"latency":true}`, err: `duration must be a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var cfg target.Config
			err := json.Unmarshal([]byte(tc.in), &cfg)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg)
			out, err := json.Marshal(cfg)
			require.NoError(t, err)
			assert.JSONEq(t, tc.out, string(out))
		})
	}
}

func FuzzConfigJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"latency":"5ms","profile":"leak"}`, `{"hold":250}`, `{"faultFor":"1h2m3.5s","seed":1}`, `{"latency":1e30}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var cfg target.Config
		if json.Unmarshal([]byte(s), &cfg) != nil {
			return
		}
		b, err := json.Marshal(cfg)
		require.NoError(t, err)
		var again target.Config
		require.NoError(t, json.Unmarshal(b, &again), "%s", b)
		if cfg.ErrorRate == cfg.ErrorRate && cfg.BurstErrorRate == cfg.BurstErrorRate && cfg.DegradeFactor == cfg.DegradeFactor {
			require.Equal(t, cfg, again, "%s", b)
		}
	})
}
