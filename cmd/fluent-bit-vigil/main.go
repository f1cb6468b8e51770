// Command fluent-bit-vigil is the Fluent Bit output plugin out_vigil, built as a c-shared library
// (`make fluent-bit-plugin` -> bin/out_vigil.so) and loaded by Fluent Bit with
// `fluent-bit -e out_vigil.so` or a [PLUGINS] file. Records become OTLP log records with the
// identity the vigil agent gives container logs and are sent over OTLP/gRPC (TLS, client
// certificate or bearer token) to a vigil agent or gateway. See README.md.
package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"context"
	"log"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/vigil-obs/vigil/cmd/fluent-bit-vigil/internal/out"
)

var (
	logger = log.New(os.Stderr, "", log.LstdFlags)

	mu        sync.Mutex
	instances = map[*out.Output]bool{}
	single    *out.Output // the instance of the legacy FLBPluginFlush (one instance only)
)

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) int {
	return output.FLBPluginRegister(def, "vigil", "vigil: OTLP/gRPC to a vigil agent or gateway")
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) int {
	cfg, err := out.ParseConfig(func(key string) string { return output.FLBPluginConfigKey(plugin, key) })
	if err != nil {
		logger.Printf("[out_vigil] configuration: %v", err)
		return output.FLB_ERROR
	}
	o, err := out.New(cfg, logger.Printf)
	if err != nil {
		logger.Printf("[out_vigil] %v", err)
		return output.FLB_ERROR
	}
	output.FLBPluginSetContext(plugin, o)
	mu.Lock()
	instances[o] = true
	single = o
	mu.Unlock()
	logger.Printf("[out_vigil] sending to %s (tls %v)", cfg.Endpoint, cfg.TLS)
	return output.FLB_OK
}

//export FLBPluginFlush
func FLBPluginFlush(data unsafe.Pointer, length C.int, tag *C.char) int {
	mu.Lock()
	o := single
	mu.Unlock()
	return flush(o, data, length, tag)
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) int {
	o, _ := output.FLBPluginGetContext(ctx).(*out.Output)
	return flush(o, data, length, tag)
}

func flush(o *out.Output, data unsafe.Pointer, length C.int, tag *C.char) int {
	if o == nil {
		logger.Printf("[out_vigil] flush of an instance that was not initialised")
		return output.FLB_ERROR
	}
	events, bad := decode(data, int(length))
	switch o.Flush(context.Background(), C.GoString(tag), events, bad) {
	case out.OK:
		return output.FLB_OK
	case out.Retry:
		return output.FLB_RETRY
	default:
		return output.FLB_ERROR
	}
}

// decode reads Fluent Bit's chunk: a msgpack stream of [time, record] (or, since Fluent Bit 2.1,
// [[time, metadata], record]) with the time as event time (ext type 0) or integer seconds.
func decode(data unsafe.Pointer, length int) (events []out.Event, bad int) {
	dec := output.NewDecoder(data, length)
	for {
		ret, ts, rec := output.GetRecord(dec)
		if ret == -1 { // end of the chunk (or bytes that cannot be decoded further)
			return events, bad
		}
		if ret != 0 {
			bad++
			continue
		}
		events = append(events, out.Event{Time: eventTime(ts), Record: rec})
	}
}

func eventTime(ts any) time.Time {
	switch t := ts.(type) {
	case output.FLBTime:
		return t.Time
	case uint64:
		return time.Unix(int64(t), 0)
	case int64:
		return time.Unix(t, 0)
	case float64:
		return time.Unix(0, int64(t*1e9))
	}
	return time.Time{}
}

//export FLBPluginExit
func FLBPluginExit() int {
	mu.Lock()
	defer mu.Unlock()
	for o := range instances {
		_ = o.Close()
		delete(instances, o)
	}
	single = nil
	return output.FLB_OK
}

//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) int {
	if o, ok := output.FLBPluginGetContext(ctx).(*out.Output); ok {
		mu.Lock()
		delete(instances, o)
		if single == o {
			single = nil
		}
		mu.Unlock()
		_ = o.Close()
	}
	return output.FLB_OK
}

func main() {}
