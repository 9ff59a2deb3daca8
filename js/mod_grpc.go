package js

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/grafana/sobek"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/loadlens/loadlens/metrics"
)

// k6/net/grpc on google.golang.org/grpc, with .proto files compiled by
// bufbuild/protocompile (a complete compiler in Go: imports, options,
// google/protobuf's well-known types) and messages as dynamicpb values in
// k6's JSON form (protojson, every field shown).

// grpcMetrics are k6's gRPC metrics.
type grpcMetrics struct {
	duration, streams, sent, received *metrics.Metric
}

func grpcExportNames() []string {
	names := []string{"Client", "Stream"}
	for _, s := range grpcStatuses {
		names = append(names, s.name)
	}
	slices.Sort(names)
	return names
}

var grpcStatuses = []struct {
	name string
	code codes.Code
}{
	{"StatusOK", codes.OK}, {"StatusCanceled", codes.Canceled}, {"StatusUnknown", codes.Unknown},
	{"StatusInvalidArgument", codes.InvalidArgument}, {"StatusDeadlineExceeded", codes.DeadlineExceeded},
	{"StatusNotFound", codes.NotFound}, {"StatusAlreadyExists", codes.AlreadyExists},
	{"StatusPermissionDenied", codes.PermissionDenied}, {"StatusResourceExhausted", codes.ResourceExhausted},
	{"StatusFailedPrecondition", codes.FailedPrecondition}, {"StatusAborted", codes.Aborted},
	{"StatusOutOfRange", codes.OutOfRange}, {"StatusUnimplemented", codes.Unimplemented},
	{"StatusInternal", codes.Internal}, {"StatusUnavailable", codes.Unavailable}, {"StatusDataLoss", codes.DataLoss},
	{"StatusUnauthenticated", codes.Unauthenticated},
}

// grpcModule is k6/net/grpc.
func grpcModule(vu *VU) (Exports, error) {
	var m grpcMetrics
	var errs []error
	for _, x := range []struct {
		dst  **metrics.Metric
		name string
		typ  metrics.MetricType
		val  metrics.ValueType
	}{
		{&m.duration, "grpc_req_duration", metrics.Trend, metrics.Time},
		{&m.streams, "grpc_streams", metrics.Counter, metrics.Default},
		{&m.sent, "grpc_streams_msgs_sent", metrics.Counter, metrics.Default},
		{&m.received, "grpc_streams_msgs_received", metrics.Counter, metrics.Default},
	} {
		var err error
		*x.dst, err = vu.RegisterMetric(x.name, x.typ, x.val)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Exports{}, err
	}
	named := map[string]any{
		"Client": func(call sobek.ConstructorCall) *sobek.Object {
			c := &grpcClient{vu: vu, m: &m, methods: map[string]protoreflect.MethodDescriptor{}}
			c.define(call.This)
			return nil
		},
		"Stream": func(call sobek.ConstructorCall) *sobek.Object { return vu.newGRPCStream(&m, call) },
	}
	for _, s := range grpcStatuses {
		named[s.name] = int(s.code)
	}
	return Exports{Named: named}, nil
}

// grpcClient is a grpc.Client of a VU.
type grpcClient struct {
	vu      *VU
	m       *grpcMetrics
	methods map[string]protoreflect.MethodDescriptor // by "pkg.Service/Method"
	conn    *grpc.ClientConn
	addr    string
	last    grpcTags
}

// define sets the client's methods on o.
func (c *grpcClient) define(o *sobek.Object) {
	vu := c.vu
	_ = o.Set("__grpc_client", vu.rt.ToValue(c))
	_ = o.Set("load", func(call sobek.FunctionCall) sobek.Value {
		vu.mustInit("grpc.Client.load")
		var importPaths []string
		if a, ok := call.Argument(0).(*sobek.Object); ok && a.ClassName() == "Array" {
			for _, k := range a.Keys() {
				importPaths = append(importPaths, a.Get(k).String())
			}
		}
		var files []string
		for _, a := range call.Arguments[min(1, len(call.Arguments)):] {
			files = append(files, a.String())
		}
		fds, err := vu.prog.compileProtos(vu.ctx, importPaths, files)
		if err != nil {
			vu.throwf("grpc.Client.load: %v", err)
		}
		return c.addFiles(fds)
	})
	_ = o.Set("loadProtoset", func(call sobek.FunctionCall) sobek.Value {
		vu.mustInit("grpc.Client.loadProtoset")
		f, err := vu.prog.loader.open(call.Argument(0).String())
		if err != nil {
			vu.throwf("grpc.Client.loadProtoset: %v", err)
		}
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(f.data, &set); err != nil {
			vu.throwf("grpc.Client.loadProtoset: %v", err)
		}
		files, err := protodesc.NewFiles(&set)
		if err != nil {
			vu.throwf("grpc.Client.loadProtoset: %v", err)
		}
		return c.addFiles(allFiles(files))
	})
	_ = o.Set("connect", func(call sobek.FunctionCall) sobek.Value {
		c.connect(call.Argument(0).String(), call.Argument(1))
		return vu.rt.ToValue(true)
	})
	_ = o.Set("invoke", func(call sobek.FunctionCall) sobek.Value {
		inv := c.prepare(call.Argument(0).String(), call.Argument(1), call.Argument(2))
		return c.result(inv, inv.run(vu.ctx))
	})
	_ = o.Set("asyncInvoke", func(call sobek.FunctionCall) sobek.Value {
		p, resolve, reject := vu.rt.NewPromise()
		var inv *grpcInvoke
		if _, thrown := tryJS(func() { inv = c.prepare(call.Argument(0).String(), call.Argument(1), call.Argument(2)) }); thrown != nil {
			_ = reject(thrown)
			return vu.rt.ToValue(p)
		}
		a := &grpcAsync{c: c, inv: inv, resolve: resolve}
		ctx, cancel := context.WithCancel(vu.ctx)
		a.cancel = cancel
		vu.loop.start(a)
		a.wg.Go(func() {
			a.res = inv.run(ctx)
			vu.loop.complete(a)
		})
		return vu.rt.ToValue(p)
	})
	_ = o.Set("close", func(sobek.FunctionCall) sobek.Value {
		if c.conn != nil {
			_ = c.conn.Close()
			c.conn = nil
		}
		return sobek.Undefined()
	})
}

// tryJS runs fn, catching what it throws.
func tryJS(fn func()) (ok bool, thrown sobek.Value) {
	defer func() {
		if r := recover(); r != nil {
			switch x := r.(type) {
			case *sobek.Exception:
				thrown = x.Value()
			case sobek.Value:
				thrown = x
			default:
				panic(r)
			}
		}
	}()
	fn()
	return true, nil
}

// addFiles makes the services of fds callable and returns k6's answer of
// load: the methods' descriptions.
func (c *grpcClient) addFiles(fds []protoreflect.FileDescriptor) sobek.Value {
	var out []any
	for _, fd := range fds {
		svcs := fd.Services()
		for i := range svcs.Len() {
			sd := svcs.Get(i)
			ms := sd.Methods()
			for j := range ms.Len() {
				md := ms.Get(j)
				c.methods[string(sd.FullName())+"/"+string(md.Name())] = md
				out = append(out, map[string]any{"name": "/" + string(sd.FullName()) + "/" + string(md.Name()),
					"isClientStream": md.IsStreamingClient(), "isServerStream": md.IsStreamingServer()})
			}
		}
	}
	return c.vu.rt.ToValue(out)
}

func allFiles(files *protoregistry.Files) []protoreflect.FileDescriptor {
	var out []protoreflect.FileDescriptor
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		out = append(out, fd)
		return true
	})
	return out
}

// compileProtos compiles .proto files once per program, the import paths
// relative to the script's folder, read through its file system.
func (p *Program) compileProtos(ctx context.Context, importPaths, files []string) ([]protoreflect.FileDescriptor, error) {
	key := strings.Join(importPaths, "\x00") + "\x01" + strings.Join(files, "\x00")
	if v, ok := p.protos.Load(key); ok {
		return v.([]protoreflect.FileDescriptor), nil
	}
	if len(importPaths) == 0 {
		importPaths = []string{"."}
	}
	accessor := func(name string) (io.ReadCloser, error) {
		var firstErr error
		for _, ip := range importPaths {
			f, err := p.loader.open(path.Join(ip, name))
			if err == nil {
				return io.NopCloser(strings.NewReader(f.text())), nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, firstErr
	}
	comp := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: accessor})}
	res, err := comp.Compile(ctx, files...)
	if err != nil {
		return nil, err
	}
	fds := make([]protoreflect.FileDescriptor, len(res))
	for i, f := range res {
		fds[i] = f
	}
	p.protos.Store(key, fds)
	return fds, nil
}

// connect dials addr and waits until the connection is ready (k6's
// connect blocks), within params.timeout (60 s by default).
func (c *grpcClient) connect(addr string, paramsV sobek.Value) {
	vu := c.vu
	vu.mustNotInit("grpc.Client.connect")
	if vu.state == nil {
		vu.throwf("grpc.Client.connect needs a running test")
	}
	plaintext, reflect, timeout := false, false, 60*time.Second
	var opts []grpc.DialOption
	var reflectMD metadata.MD
	var tlsParams *sobek.Object
	if params, ok := paramsV.(*sobek.Object); ok {
		for _, k := range params.Keys() {
			v := params.Get(k)
			switch k {
			case "plaintext":
				plaintext = v.ToBoolean()
			case "reflect":
				reflect = v.ToBoolean()
			case "reflectMetadata":
				o, ok := v.(*sobek.Object)
				if !ok && !isNullish(v) {
					vu.typeErrorf("grpc.Client.connect: params.reflectMetadata: want an object, got %s", v)
				}
				if ok {
					reflectMD = metadata.MD{}
					for _, mk := range o.Keys() {
						reflectMD.Append(mk, o.Get(mk).String())
					}
				}
			case "timeout":
				d, ok := durationOf(v)
				if !ok || d <= 0 {
					vu.typeErrorf("grpc.Client.connect: params.timeout: want a positive duration, got %s", v)
				}
				timeout = d
			case "maxReceiveSize":
				opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(int(v.ToInteger()))))
			case "maxSendSize":
				opts = append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(int(v.ToInteger()))))
			case "authority":
				opts = append(opts, grpc.WithAuthority(v.String()))
			case "tls":
				tlsParams, _ = v.(*sobek.Object)
			default:
				vu.throwf("grpc.Client.connect: unknown param %q (want plaintext, reflect, reflectMetadata, timeout, maxReceiveSize, maxSendSize, authority or tls)", k)
			}
		}
	}
	client := vu.state.HTTP()
	if plaintext {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		conf := client.TLSConfig()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			conf.ServerName = host
		}
		conf.NextProtos = []string{"h2"}
		if tlsParams != nil {
			if err := grpcTLS(conf, tlsParams); err != nil {
				vu.throwf("grpc.Client.connect: params.tls: %v", err)
			}
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(conf)))
	}
	opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
		return client.DialContext(ctx, "tcp", a)
	}), grpc.WithUserAgent(vu.prog.userAgent()))
	ctx, cancel := context.WithTimeout(vu.ctx, timeout)
	defer cancel()
	// Blocking, with the connection's own error and failing at once on
	// one that retrying cannot mend (a TLS alert), as k6's connect does:
	// grpc.NewClient can do none of the three.
	//lint:ignore SA1019 the deprecated dial is the one that blocks, as k6's connect does
	opts = append(opts, grpc.WithBlock(), grpc.WithReturnConnectionError(), grpc.FailOnNonTempDialError(true))
	//lint:ignore SA1019 the deprecated dial is the one that blocks, as k6's connect does
	conn, err := grpc.DialContext(ctx, "passthrough:///"+addr, opts...)
	if err != nil {
		if vu.ctx.Err() != nil {
			vu.throwError(context.Cause(vu.ctx))
		}
		vu.throwf("grpc.Client.connect: %s: %v", addr, err)
	}
	if c.conn != nil {
		_ = c.conn.Close()
	} else {
		vu.state.AtRelease(func() {
			if c.conn != nil {
				_ = c.conn.Close()
			}
		})
	}
	c.conn, c.addr, c.last = conn, addr, grpcTags{}
	if reflect {
		if reflectMD != nil {
			ctx = metadata.NewOutgoingContext(ctx, reflectMD)
		}
		fds, err := reflectFiles(ctx, conn)
		if err != nil {
			vu.throwf("grpc.Client.connect: reflection: %v", err)
		}
		c.addFiles(fds)
	}
}

// grpcTLS applies connect's params.tls to conf: cacerts (a PEM string or
// an array of them) replace the roots, cert and key (PEM) are the client
// certificate, as in k6.
func grpcTLS(conf *tls.Config, p *sobek.Object) error {
	var errs []error
	if v := p.Get("cacerts"); !isNullish(v) {
		var pems []string
		if o, ok := v.(*sobek.Object); ok && o.ClassName() == "Array" {
			for _, k := range o.Keys() {
				pems = append(pems, o.Get(k).String())
			}
		} else {
			pems = []string{v.String()}
		}
		pool := x509.NewCertPool()
		for i, pem := range pems {
			if !pool.AppendCertsFromPEM([]byte(pem)) {
				errs = append(errs, fmt.Errorf("cacerts[%d]: no PEM certificate", i))
			}
		}
		conf.RootCAs = pool
	}
	cert, key := p.Get("cert"), p.Get("key")
	if !isNullish(cert) || !isNullish(key) {
		if v := p.Get("password"); !isNullish(v) && v.String() != "" {
			errs = append(errs, errors.New("password: encrypted keys are not supported; give key unencrypted"))
		} else if pair, err := tls.X509KeyPair([]byte(cert.String()), []byte(key.String())); err != nil {
			errs = append(errs, fmt.Errorf("cert, key: %w", err))
		} else {
			conf.Certificates = []tls.Certificate{pair}
		}
	}
	return errors.Join(errs...)
}

// method returns the descriptor of "pkg.Service/Method" (a leading "/"
// allowed).
func (c *grpcClient) method(name string) protoreflect.MethodDescriptor {
	md, ok := c.methods[strings.TrimPrefix(name, "/")]
	if !ok {
		c.vu.throwf("grpc: method %q not found in the loaded files (want \"package.Service/Method\")", name)
	}
	return md
}

// grpcInvoke is one unary call, prepared on the VU's goroutine; run may
// run on another.
type grpcInvoke struct {
	c       *grpcClient
	md      protoreflect.MethodDescriptor
	conn    *grpc.ClientConn
	req     *dynamicpb.Message
	header  metadata.MD
	tags    metrics.Tags
	okTags  metrics.Tags // tags with status 0
	timeout time.Duration
}

type grpcResult struct {
	resp             *dynamicpb.Message
	header, trailers metadata.MD
	err              error
	start, end       time.Time
}

// prepare reads invoke's arguments.
func (c *grpcClient) prepare(method string, reqV, paramsV sobek.Value) *grpcInvoke {
	vu := c.vu
	vu.mustNotInit("grpc.Client.invoke")
	if c.conn == nil {
		vu.throwf("grpc.Client.invoke: no connection; call connect first")
	}
	inv := &grpcInvoke{c: c, md: c.method(method), conn: c.conn, timeout: 60 * time.Second}
	inv.req = c.message(inv.md.Input(), reqV)
	var tags metrics.Tags
	if params, ok := paramsV.(*sobek.Object); ok {
		inv.header = metadataOf(params)
		tags = vu.paramTags(params)
		if v := params.Get("timeout"); !isNullish(v) {
			d, ok := durationOf(v)
			if !ok || d <= 0 {
				vu.typeErrorf("grpc invoke: params.timeout: want a positive duration, got %s", v)
			}
			inv.timeout = d
		}
	}
	vuTags := vu.state.Tags()
	if tags.Len() == 0 && c.last.md == inv.md && c.last.vu.Equal(vuTags) {
		inv.tags, inv.okTags = c.last.tags, c.last.ok // a steady call makes no tag set
		return inv
	}
	inv.tags = vuTags.Merge(tags).Merge(c.sysTags(inv.md))
	inv.okTags = inv.tags.With("status", "0")
	if tags.Len() == 0 {
		c.last = grpcTags{md: inv.md, vu: vuTags, tags: inv.tags, ok: inv.okTags}
	}
	return inv
}

// grpcTags are the tag sets of the client's last call without tags of
// its own.
type grpcTags struct {
	md           protoreflect.MethodDescriptor
	vu, tags, ok metrics.Tags
}

// sysTags are the tags of a method's samples, as k6 has them.
func (c *grpcClient) sysTags(md protoreflect.MethodDescriptor) metrics.Tags {
	svc := string(md.Parent().FullName())
	full := "/" + svc + "/" + string(md.Name())
	return metrics.NewTags("method", string(md.Name()), "name", full, "service", svc, "url", c.addr+full)
}

// message converts a JavaScript value (through its JSON) to a message.
func (c *grpcClient) message(desc protoreflect.MessageDescriptor, v sobek.Value) *dynamicpb.Message {
	msg := dynamicpb.NewMessage(desc)
	if isNullish(v) {
		return msg
	}
	b, err := c.vu.stringify(v)
	if err != nil {
		c.vu.throwError(err)
	}
	if err := protojson.Unmarshal(b, msg); err != nil {
		c.vu.throwf("grpc: the message is not a %s: %v", desc.FullName(), err)
	}
	return msg
}

func metadataOf(params *sobek.Object) metadata.MD {
	o, ok := params.Get("metadata").(*sobek.Object)
	if !ok {
		return nil
	}
	md := metadata.MD{}
	for _, k := range o.Keys() {
		md.Append(k, o.Get(k).String())
	}
	return md
}

func (inv *grpcInvoke) run(ctx context.Context) grpcResult {
	ctx, cancel := context.WithTimeout(ctx, inv.timeout)
	defer cancel()
	if inv.header != nil {
		ctx = metadata.NewOutgoingContext(ctx, inv.header)
	}
	res := grpcResult{resp: dynamicpb.NewMessage(inv.md.Output()), start: time.Now()}
	full := "/" + string(inv.md.Parent().FullName()) + "/" + string(inv.md.Name())
	res.err = inv.conn.Invoke(ctx, full, inv.req, res.resp, grpc.Header(&res.header), grpc.Trailer(&res.trailers))
	res.end = time.Now()
	return res
}

// result records grpc_req_duration and returns k6's response object.
func (c *grpcClient) result(inv *grpcInvoke, res grpcResult) sobek.Value {
	vu := c.vu
	if res.err != nil && vu.ctx.Err() != nil {
		vu.throwError(context.Cause(vu.ctx)) // interrupted: no sample, as an HTTP request
	}
	st := status.Convert(res.err)
	tags := inv.okTags
	if st.Code() != codes.OK {
		tags = inv.tags.With("status", fmt.Sprint(int(st.Code())))
	}
	vu.state.Emit(metrics.Sample{Metric: c.m.duration, Time: res.end, Value: msSince(res.start, res.end), Tags: tags})
	return vu.rt.NewDynamicObject(&grpcResponse{c: c, res: res, st: st})
}

// grpcResponse is the response of invoke: its parts are made on first use
// (most scripts read only the status), then kept.
type grpcResponse struct {
	c      *grpcClient
	res    grpcResult
	st     *status.Status
	fields map[string]sobek.Value
}

var grpcResponseKeys = []string{"status", "message", "headers", "trailers", "error"}

func (r *grpcResponse) Get(key string) sobek.Value {
	if v, ok := r.fields[key]; ok {
		return v
	}
	vu := r.c.vu
	var v sobek.Value
	switch key {
	case "status":
		v = vu.rt.ToValue(int(r.st.Code()))
	case "message":
		v = r.c.messageValue(r.res.resp)
	case "headers":
		v = mdValue(vu, r.res.header)
	case "trailers":
		v = mdValue(vu, r.res.trailers)
	case "error":
		v = sobek.Null()
		if r.res.err != nil {
			e := vu.rt.NewObject()
			_ = e.Set("code", int(r.st.Code()))
			_ = e.Set("message", r.st.Message())
			_ = e.Set("details", vu.rt.NewArray())
			v = e
		}
	default:
		return nil
	}
	if r.fields == nil {
		r.fields = make(map[string]sobek.Value, len(grpcResponseKeys))
	}
	r.fields[key] = v
	return v
}
func (r *grpcResponse) Set(key string, v sobek.Value) bool {
	r.Get(grpcResponseKeys[0]) // make the map
	r.fields[key] = v
	return true
}
func (r *grpcResponse) Has(key string) bool {
	return slices.Contains(grpcResponseKeys, key) || r.fields[key] != nil
}
func (r *grpcResponse) Delete(key string) bool {
	delete(r.fields, key)
	return true
}
func (r *grpcResponse) Keys() []string { return grpcResponseKeys }

// messageValue is a message in k6's JSON form: every field, int64 as
// strings.
func (c *grpcClient) messageValue(m proto.Message) sobek.Value {
	b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		c.vu.throwError(err)
	}
	v, err := c.vu.parseJSON(b)
	if err != nil {
		c.vu.throwError(err)
	}
	return v
}

func mdValue(vu *VU, md metadata.MD) sobek.Value {
	o := vu.rt.NewObject()
	for k, vs := range md {
		_ = o.Set(k, vs)
	}
	return o
}

// grpcAsync is an asyncInvoke in flight: a task of the VU's event loop.
type grpcAsync struct {
	c       *grpcClient
	inv     *grpcInvoke
	res     grpcResult
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	resolve func(any) error
}

var _ task = (*grpcAsync)(nil)

func (a *grpcAsync) settle() error {
	a.wg.Wait()
	a.cancel()
	if vu := a.c.vu; vu.ctx.Err() != nil {
		return context.Cause(vu.ctx)
	}
	return a.resolve(a.c.result(a.inv, a.res))
}

func (a *grpcAsync) abandon(error) {
	a.cancel()
	a.wg.Wait()
}
