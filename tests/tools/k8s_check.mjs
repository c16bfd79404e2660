// deploy/kubernetes checked the way `kubectl apply` would see it, without a cluster:
//  1. every document validates against the Kubernetes OpenAPI schemas (kubernetes-models,
//     installed by scripts/install-deps.sh into tests/tools; types, required fields, enums,
//     formats; unknown fields are not rejected by those schemas, so the checks below read
//     every field the setup relies on);
//  2. kustomization.yaml lists every manifest of the directory (hpa-custom-metrics.yaml is
//     the documented alternative of hpa.yaml: the variant with it is checked too);
//  3. consistency: every name an HPA, PDB, Service, CronJob or Deployment refers to exists
//     (Deployments, ConfigMap, Secret, PVC, volumes, port names); probes point at public GET
//     routes of src/api/routes.cpp and answer on a live `aragora serve`; the grace period
//     exceeds preStop + ARAGORA_SHUTDOWN_GRACE_SECONDS; the custom HPA's metrics are
//     exported by that live server; one image name throughout; every ConfigMap and Secret
//     key is a variable the binary reads (a string literal of src/).
// Usage: node k8s_check.mjs <deploy/kubernetes> <src/api/routes.cpp> [<aragora binary>]
//        node k8s_check.mjs --selftest ...   (broken copies must fail)
// Exit 0 when everything holds; 1 with one line per problem.
import { readFileSync, readdirSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { join, basename } from "node:path";
import { tmpdir } from "node:os";
import { spawn } from "node:child_process";
import { parseAllDocuments, parse as parseYaml } from "yaml";

const MODELS = {
  "v1/Namespace": "kubernetes-models/v1/Namespace",
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Secret": "kubernetes-models/v1/Secret",
  "v1/Service": "kubernetes-models/v1/Service",
  "v1/PersistentVolumeClaim": "kubernetes-models/v1/PersistentVolumeClaim",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "autoscaling/v2/HorizontalPodAutoscaler":
    "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "batch/v1/CronJob": "kubernetes-models/batch/v1/CronJob",
};
const ALTERNATIVES = { "hpa-custom-metrics.yaml": "hpa.yaml" };

function loadDir(dir) {
  const files = {};
  for (const f of readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const text = readFileSync(join(dir, f), "utf8");
    if (f === "kustomization.yaml") {
      files[f] = { text, kustomization: parseYaml(text) };
      continue;
    }
    const docs = parseAllDocuments(text);
    const objects = [];
    for (const d of docs) {
      if (d.errors.length) throw new Error(`${f}: ${d.errors[0].message}`);
      const o = d.toJSON();
      if (o) objects.push(o);
    }
    files[f] = { text, objects };
  }
  return files;
}

function labelsMatch(selector, labels) {
  const want = selector?.matchLabels ?? selector ?? {};
  if (!Object.keys(want).length) return false;
  return Object.entries(want).every(([k, v]) => labels?.[k] === v);
}

// Every string literal of src/ (the environment variables the binary reads are among them).
function sourceStrings(routesCpp) {
  const root = join(routesCpp, "..", "..");
  const found = new Set();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.(cpp|hpp)$/.test(e.name))
        for (const m of readFileSync(join(d, e.name), "utf8").matchAll(/"([A-Z][A-Z0-9_]+)"/g)) found.add(m[1]);
    }
  };
  walk(root);
  return found;
}

function publicGetRoutes(routesCpp) {
  const src = readFileSync(routesCpp, "utf8");
  const routes = new Set();
  const re = /\.method\s*=\s*"GET",\s*\.path\s*=\s*"([^"]+)",\s*\.auth\s*=\s*kPublic/g;
  for (let m; (m = re.exec(src)); ) routes.add(m[1]);
  return routes;
}

async function schemaProblems(file, obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const mod = MODELS[key];
  if (!mod) return [`${file}: ${key} has no schema here (add it to MODELS)`];
  const cls = Object.values(await import(mod)).find((c) => typeof c === "function");
  try {
    new cls(obj).validate();
    return [];
  } catch (e) {
    return [`${file}: ${obj.kind} ${obj.metadata?.name}: schema: ${e.message}`];
  }
}

function podSpecs(objects) {
  const out = [];
  for (const { file, o } of objects) {
    if (o.kind === "Deployment") out.push({ file, o, pod: o.spec?.template });
    if (o.kind === "CronJob") out.push({ file, o, pod: o.spec?.jobTemplate?.spec?.template });
  }
  return out;
}

// Consistency of one set of resources (what kustomize would apply).
function consistencyProblems(objects, kustomization, routes, live, envNames) {
  const p = [];
  const find = (kind, name) => objects.find(({ o }) => o.kind === kind && o.metadata?.name === name);
  const ns = kustomization.namespace;
  const seen = new Set();
  for (const { file, o } of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    if (seen.has(id)) p.push(`${file}: ${id} defined twice`);
    seen.add(id);
    if (o.kind === "Namespace") {
      if (o.metadata.name !== ns) p.push(`${file}: Namespace ${o.metadata.name} != kustomization namespace ${ns}`);
    } else if (o.metadata?.namespace !== ns) {
      p.push(`${file}: ${id} in namespace ${o.metadata?.namespace}, kustomization says ${ns}`);
    }
  }
  if (!find("Namespace", ns)) p.push(`no Namespace ${ns}`);
  const config = find("ConfigMap", "aragora-config")?.o?.data ?? {};
  // A misspelt variable is ignored by the binary without a word: every key must be one it reads.
  for (const [kind, name, data] of [["ConfigMap", "aragora-config", config],
                                     ["Secret", "aragora-secrets", find("Secret", "aragora-secrets")?.o?.stringData ?? {}]])
    for (const key of Object.keys(data))
      if (!envNames.has(key)) p.push(`${kind} ${name}: ${key} is not a variable the binary reads`);
  const drain = Number(config.ARAGORA_SHUTDOWN_GRACE_SECONDS);
  if (!Number.isInteger(drain) || drain <= 0) p.push("configmap: ARAGORA_SHUTDOWN_GRACE_SECONDS missing");
  const images = new Set();
  for (const { file, o, pod } of podSpecs(objects)) {
    const id = `${o.kind}/${o.metadata.name}`;
    const spec = pod?.spec ?? {};
    const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
    for (const v of spec.volumes ?? []) {
      if (v.persistentVolumeClaim && !find("PersistentVolumeClaim", v.persistentVolumeClaim.claimName))
        p.push(`${file}: ${id} mounts PVC ${v.persistentVolumeClaim.claimName}, not defined`);
    }
    if (spec.securityContext?.runAsNonRoot !== true) p.push(`${file}: ${id} not runAsNonRoot`);
    for (const c of spec.containers ?? []) {
      images.add(c.image);
      for (const m of c.volumeMounts ?? [])
        if (!volumes.has(m.name)) p.push(`${file}: ${id} mounts volume ${m.name}, not in volumes`);
      for (const e of c.envFrom ?? []) {
        if (e.configMapRef && !find("ConfigMap", e.configMapRef.name))
          p.push(`${file}: ${id} envFrom ConfigMap ${e.configMapRef.name}, not defined`);
        if (e.secretRef && !find("Secret", e.secretRef.name))
          p.push(`${file}: ${id} envFrom Secret ${e.secretRef.name}, not defined`);
      }
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false || sc.readOnlyRootFilesystem !== true)
        p.push(`${file}: ${id} container ${c.name}: privilege escalation or writable root`);
      if (!c.resources?.requests || !c.resources?.limits) p.push(`${file}: ${id} container ${c.name} without resources`);
      const portNames = new Set((c.ports ?? []).map((x) => x.name));
      for (const [kind, probe] of [["liveness", c.livenessProbe], ["readiness", c.readinessProbe], ["startup", c.startupProbe]]) {
        if (!probe?.httpGet) continue;
        const path = probe.httpGet.path;
        if (!routes.has(path)) p.push(`${file}: ${id} ${kind} probe ${path} is not a public GET route of routes.cpp`);
        if (typeof probe.httpGet.port === "string" && !portNames.has(probe.httpGet.port))
          p.push(`${file}: ${id} ${kind} probe port ${probe.httpGet.port} is not a container port`);
        if (live && !live.probes[path]) p.push(`${file}: ${id} ${kind} probe ${path}: live server answered ${live.status[path]}`);
      }
    }
    if (o.kind === "Deployment") {
      const c = spec.containers?.[0] ?? {};
      if (c.ports?.length) {
        if (c.livenessProbe?.httpGet?.path !== "/healthz") p.push(`${file}: ${id} liveness is not /healthz`);
        if (c.readinessProbe?.httpGet?.path !== "/readyz") p.push(`${file}: ${id} readiness is not /readyz`);
        const sleep = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? c.lifecycle?.preStop?.sleep?.seconds ?? NaN);
        if (!Number.isFinite(sleep)) p.push(`${file}: ${id} has no preStop sleep`);
        const grace = spec.terminationGracePeriodSeconds;
        if (!(grace > sleep + drain))
          p.push(`${file}: ${id} terminationGracePeriodSeconds ${grace} <= preStop ${sleep} + drain ${drain}`);
        if (!spec.affinity?.podAntiAffinity) p.push(`${file}: ${id} has no podAntiAffinity`);
        if (!labelsMatch(o.spec.selector, pod.metadata?.labels)) p.push(`${file}: ${id} selector does not match its pods`);
      } else if (!(spec.terminationGracePeriodSeconds > drain)) {
        p.push(`${file}: ${id} terminationGracePeriodSeconds <= drain ${drain}`);
      }
    }
  }
  const named = [...images].filter((i) => !i?.startsWith("aragora:"));
  if (images.size !== 1 || named.length) p.push(`images differ or are not aragora:<tag>: ${[...images].join(", ")}`);
  const kImages = (kustomization.images ?? []).map((i) => i.name);
  if (!kImages.includes("aragora")) p.push("kustomization: no images entry for aragora");

  const deployments = objects.filter(({ o }) => o.kind === "Deployment");
  for (const { file, o } of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    if (o.kind === "HorizontalPodAutoscaler") {
      const t = o.spec.scaleTargetRef;
      if (t.kind !== "Deployment" || t.apiVersion !== "apps/v1" || !find("Deployment", t.name))
        p.push(`${file}: ${id} targets ${t.kind} ${t.name}, not defined`);
      if (o.spec.minReplicas !== 2 || o.spec.maxReplicas !== 10) p.push(`${file}: ${id} is not 2..10`);
      const cpu = o.spec.metrics?.find((m) => m.type === "Resource" && m.resource.name === "cpu");
      if (cpu?.resource?.target?.averageUtilization !== 70) p.push(`${file}: ${id} CPU target is not 70 %`);
      for (const m of o.spec.metrics ?? []) {
        if (m.type !== "Pods") continue;
        const name = m.pods.metric.name;
        if (live && !live.metrics.has(name)) p.push(`${file}: ${id} scales on ${name}, which aragora serve does not export`);
      }
    }
    if (o.kind === "PodDisruptionBudget") {
      const pods = deployments.filter(({ o: d }) => labelsMatch(o.spec.selector, d.spec.template.metadata.labels));
      if (!pods.length) p.push(`${file}: ${id} selects no Deployment's pods`);
      if (o.spec.minAvailable !== 1) p.push(`${file}: ${id} minAvailable is not 1`);
      for (const { o: d } of pods)
        if (!(d.spec.replicas > o.spec.minAvailable)) p.push(`${file}: ${id} blocks every drain of ${d.metadata.name}`);
    }
    if (o.kind === "Service") {
      const pods = deployments.filter(({ o: d }) => labelsMatch(o.spec.selector, d.spec.template.metadata.labels));
      if (pods.length !== 1) p.push(`${file}: ${id} selects ${pods.length} Deployments' pods (want 1)`);
      for (const port of o.spec.ports ?? []) {
        if (typeof port.targetPort !== "string") continue;
        for (const { o: d } of pods) {
          const names = d.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((x) => x.name));
          if (!names.includes(port.targetPort)) p.push(`${file}: ${id} targetPort ${port.targetPort} not a port of ${d.metadata.name}`);
        }
      }
      if (o.spec.sessionAffinity !== "ClientIP" || o.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds !== 1800)
        p.push(`${file}: ${id} without sessionAffinity ClientIP 1800 s`);
    }
  }
  const crons = objects.filter(({ o }) => o.kind === "CronJob").map(({ o }) => JSON.stringify(o));
  if (!crons.some((c) => c.includes("aragora backup create"))) p.push("no CronJob runs aragora backup create");
  if (!crons.some((c) => c.includes("aragora backup verify"))) p.push("no CronJob runs aragora backup verify");
  return p;
}

function variants(files) {
  const k = files["kustomization.yaml"]?.kustomization;
  if (!k) return { problems: ["no kustomization.yaml"], sets: [] };
  const problems = [];
  const listed = (k.resources ?? []).map(String);
  for (const f of listed) if (!files[f]) problems.push(`kustomization.yaml lists ${f}, which does not exist`);
  for (const f of Object.keys(files)) {
    if (f === "kustomization.yaml" || listed.includes(f)) continue;
    const replaces = ALTERNATIVES[f];
    if (!replaces || !listed.includes(replaces) || !files["kustomization.yaml"].text.includes(f))
      problems.push(`${f} is not listed in kustomization.yaml`);
  }
  const sets = [listed];
  for (const [alt, orig] of Object.entries(ALTERNATIVES))
    if (files[alt]) sets.push(listed.map((f) => (f === orig ? alt : f)));
  return { problems, sets, kustomization: k };
}

// A live `aragora serve` (SQLite in a temp dir, free ports): the probe paths' answers
// without credentials, and the metric names /metrics exports.
async function liveFacts(binary, paths) {
  const dir = mkdtempSync(join(tmpdir(), "aragora-k8s-"));
  const env = { ...process.env, ARAGORA_ENV: "development", ARAGORA_DATA_DIR: dir,
    ARAGORA_LOG_FORMAT: "text", ARAGORA_RECEIPT_SIGNING_KEY: "k8s-check-key", ARAGORA_IO_THREADS: "2" };
  const child = spawn(binary, ["serve", "--host", "127.0.0.1", "--api-port", "0", "--ws-port", "0", "--metrics-port", "0"],
    { env, stdio: ["ignore", "ignore", "pipe"] });
  try {
    const port = await new Promise((resolve, reject) => {
      let log = "";
      const timer = setTimeout(() => reject(new Error("no listening line in 60 s:\n" + log)), 60000);
      child.stderr.on("data", (d) => {
        log += d;
        const m = /api=http:\/\/[^:]+:(\d+)/.exec(log);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      });
      child.on("exit", (code) => reject(new Error(`aragora serve exited ${code}:\n${log}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60000;
    while ((await fetch(`${base}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error("/readyz not 200 within 60 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    const facts = { probes: {}, status: {}, metrics: new Set() };
    for (const path of paths) {
      const r = await fetch(base + path);
      facts.status[path] = r.status;
      facts.probes[path] = r.status === 200;
    }
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const line of text.split("\n")) {
      const m = /^# TYPE (\S+)/.exec(line);
      if (m) facts.metrics.add(m[1]);
    }
    return facts;
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function check(dir, routesCpp, binary) {
  const files = loadDir(dir);
  const { problems, sets, kustomization } = variants(files);
  const routes = publicGetRoutes(routesCpp);
  const envNames = sourceStrings(routesCpp);
  if (!routes.has("/healthz") || !routes.has("/readyz")) problems.push(`${routesCpp}: no public /healthz or /readyz`);
  const all = Object.entries(files).flatMap(([file, f]) => (f.objects ?? []).map((o) => ({ file, o })));
  for (const { file, o } of all) problems.push(...(await schemaProblems(file, o)));
  let live = null;
  if (binary) {
    const paths = new Set();
    for (const { pod } of podSpecs(all))
      for (const c of pod?.spec?.containers ?? [])
        for (const pr of [c.livenessProbe, c.readinessProbe, c.startupProbe]) if (pr?.httpGet) paths.add(pr.httpGet.path);
    live = await liveFacts(binary, [...paths]);
  }
  for (const set of sets ?? []) {
    const objects = all.filter(({ file }) => set.includes(file));
    for (const q of consistencyProblems(objects, kustomization, routes, live, envNames))
      problems.push(set === sets[0] ? q : `[with ${set.find((f) => ALTERNATIVES[f])}] ${q}`);
  }
  return problems;
}

// Each mutation of a copy of the real manifests must be caught.
async function selftest(dir, routesCpp) {
  const { cpSync, writeFileSync } = await import("node:fs");
  const cases = [
    ["hpa.yaml", (s) => s.replace("name: aragora-backend\n", "name: aragora-backnd\n"), "targets"],
    ["pdb.yaml", (s) => s.replace(/component: server\n$/, "component: sever\n"), "selects no"],
    ["deployment.yaml", (s) => s.replace("path: /readyz", "path: /ready"), "readiness"],
    ["deployment.yaml", (s) => s.replace("terminationGracePeriodSeconds: 60", "terminationGracePeriodSeconds: 30"), "terminationGracePeriodSeconds"],
    ["deployment.yaml", (s) => s.replace("containerPort: 8080", 'containerPort: "8080"'), "schema"],
    ["service.yaml", (s) => s.replace("timeoutSeconds: 1800", "timeoutSeconds: 180"), "sessionAffinity"],
    ["service.yaml", (s) => s.replace("targetPort: ws", "targetPort: websocket"), "targetPort"],
    ["kustomization.yaml", (s) => s.replace("  - pdb.yaml\n", ""), "not listed"],
    ["backup-cronjob.yaml", (s) => s.replace("claimName: aragora-backups", "claimName: aragora-backup"), "PVC"],
    ["worker-deployment.yaml", (s) => s.replace("name: aragora-config", "name: aragora-conf"), "ConfigMap"],
    ["configmap.yaml", (s) => s.replace("ARAGORA_MAX_CONCURRENT_DEBATES", "ARAGORA_MAX_CONCURRENT_DEBATE"), "not a variable"],
    ["hpa-custom-metrics.yaml", (s) => s.replace("name: aragora-backend\n", "name: aragora\n"), "[with hpa-custom-metrics.yaml]"],
  ];
  let failed = 0;
  const clean = await check(dir, routesCpp, null);
  if (clean.length) { console.log("selftest: the real manifests do not pass:\n" + clean.join("\n")); return 1; }
  for (const [file, mutate, expect] of cases) {
    const tmp = mkdtempSync(join(tmpdir(), "aragora-k8s-self-"));
    cpSync(dir, tmp, { recursive: true });
    const before = readFileSync(join(tmp, file), "utf8");
    const after = mutate(before);
    if (after === before) { console.log(`selftest: mutation of ${file} (${expect}) changed nothing`); failed++; continue; }
    writeFileSync(join(tmp, file), after);
    const problems = await check(tmp, routesCpp, null);
    if (!problems.some((q) => q.includes(expect))) {
      console.log(`selftest: broken ${file} not caught (want "${expect}"): ${problems.join(" | ") || "no problem found"}`);
      failed++;
    }
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`selftest: ${cases.length - failed} of ${cases.length} broken copies caught`);
  return failed ? 1 : 0;
}

const args = process.argv.slice(2);
if (args[0] === "--selftest") {
  process.exit(await selftest(args[1], args[2]));
}
const [dir, routesCpp, binary] = args;
if (!dir || !routesCpp || !existsSync(dir)) {
  console.error("usage: node k8s_check.mjs [--selftest] <deploy/kubernetes> <routes.cpp> [<aragora>]");
  process.exit(2);
}
const problems = await check(dir, routesCpp, binary);
const docs = Object.values(loadDir(dir)).reduce((n, f) => n + (f.objects?.length ?? 0), 0);
if (problems.length) {
  console.log(problems.join("\n"));
  console.log(`k8s_check: ${problems.length} problem(s) in ${basename(dir)}`);
  process.exit(1);
}
console.log(`k8s_check: ${docs} documents valid and consistent${binary ? " (probes and metrics checked live)" : ""}`);
