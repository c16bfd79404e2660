'use strict';
// A loopback OTLP trace collector for the trace tests (tests/unit/trace, the tracing
// integration test): OTLP/gRPC (TraceService/Export) and OTLP/HTTP (POST /v1/traces,
// application/x-protobuf) decoded with @opentelemetry/otlp-transformer's generated
// protobufjs code, so what src/trace encodes by hand is read by an independent decoder.
// GET /spans answers every span received so far as a JSON array (ids in lowercase hex,
// attributes as an object, the resource's service.name and the transport it came by).
// Prints {"grpc_port": N, "http_port": M} on one line once both listen. Exits when its
// standard input closes (the test process ended) or on SIGTERM/SIGINT.
//
//   node otlp_collector.js
const http = require('http');
const grpc = require('@grpc/grpc-js');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const v1 = root.opentelemetry.proto.collector.trace.v1;
const spans = [];
let requests = 0;

function hex(bytes) {
  return bytes && bytes.length ? Buffer.from(bytes).toString('hex') : '';
}

function anyValue(v) {
  if (v == null) return null;
  if (v.stringValue != null && v.stringValue !== '') return v.stringValue;
  if (v.intValue != null) return Number(v.intValue);
  if (v.doubleValue != null) return v.doubleValue;
  if (v.boolValue != null) return v.boolValue;
  if (v.stringValue != null) return v.stringValue;
  return null;
}

function attributes(list) {
  const out = {};
  for (const kv of list || []) out[kv.key] = anyValue(kv.value);
  return out;
}

function record(request, transport) {
  ++requests;
  for (const rs of request.resourceSpans || []) {
    const resource = attributes(rs.resource && rs.resource.attributes);
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        spans.push({
          transport,
          service_name: resource['service.name'] || '',
          scope: (ss.scope && ss.scope.name) || '',
          trace_id: hex(s.traceId),
          span_id: hex(s.spanId),
          parent_span_id: hex(s.parentSpanId),
          name: s.name,
          kind: s.kind,
          start_unix_nano: String(s.startTimeUnixNano),
          end_unix_nano: String(s.endTimeUnixNano),
          attributes: attributes(s.attributes),
          status: { code: (s.status && s.status.code) || 0, message: (s.status && s.status.message) || '' },
        });
      }
    }
  }
}

const server = new grpc.Server();
server.addService(
  {
    Export: {
      path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      requestStream: false,
      responseStream: false,
      requestSerialize: (b) => b,
      requestDeserialize: (b) => v1.ExportTraceServiceRequest.decode(b),
      responseSerialize: (m) => Buffer.from(v1.ExportTraceServiceResponse.encode(m).finish()),
      responseDeserialize: (b) => b,
    },
  },
  {
    Export: (call, callback) => {
      record(call.request, 'grpc');
      callback(null, v1.ExportTraceServiceResponse.create({}));
    },
  },
);

const web = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/spans') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ requests, spans }));
    return;
  }
  if (req.method !== 'POST' || req.url !== '/v1/traces') {
    res.writeHead(404);
    res.end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const type = req.headers['content-type'] || '';
    try {
      if (type !== 'application/x-protobuf') throw new Error('unsupported content-type ' + type);
      record(v1.ExportTraceServiceRequest.decode(Buffer.concat(chunks)), 'http');
    } catch (e) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(e.message));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end(Buffer.from(v1.ExportTraceServiceResponse.encode({}).finish()));
  });
});

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, grpcPort) => {
  if (err) {
    process.stderr.write('grpc bind: ' + err.message + '\n');
    process.exit(1);
  }
  web.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ grpc_port: grpcPort, http_port: web.address().port }) + '\n');
  });
});

const stop = () => process.exit(0);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
