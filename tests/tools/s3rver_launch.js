'use strict';
// Starts the S3 stand-in for the offsite backup tests (tests/unit/ops/s3rver_fixture.cpp):
// @20minutes/s3rver on 127.0.0.1 with a port the OS picks, storing objects under DIR, with
// the buckets named after it, checking SigV4 signatures against its one account
// (access key S3RVER, secret S3RVER). Prints {"port": N} on one line once it listens.
// Exits when its standard input closes (the test process ended) or on SIGTERM/SIGINT.
//
//   node --openssl-legacy-provider s3rver_launch.js DIR [BUCKET...]
//
// (s3rver makes its ListObjectsV2 continuation tokens with DES, in OpenSSL 3's legacy
// provider.)
const S3rver = require('@20minutes/s3rver');

const [directory, ...buckets] = process.argv.slice(2);
if (!directory) {
  process.stderr.write('usage: node s3rver_launch.js DIR [BUCKET...]\n');
  process.exit(2);
}

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: true,
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});

server.run().then(
  ({ port }) => process.stdout.write(JSON.stringify({ port }) + '\n'),
  (err) => {
    process.stderr.write(`s3rver failed to start: ${err.message}\n`);
    process.exit(1);
  },
);

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
