// First: holds V8's young generation through start-up, then caps it (see the runtime's young-generation.ts).
import '@maniac-gateway/runtime/cap-young-generation';
import { Command } from 'commander';
import { ContainerDirectory, ContainerService, containerView } from '@maniac-gateway/ingest-api';
import {
  ApiError,
  ConfigError,
  ValidationFailure,
  createHostContext,
  createKafka,
  createLogger,
  ControlPlane,
  loadConfig,
  startHost,
  stopOnSignals,
  type GatewayConfig,
} from '@maniac-gateway/runtime';
import { composeComponents } from './compose.js';
import { Progress, exportDataset, importDataset, readContainerStats } from './datasets.js';

/**
 * `maniac-gateway`: run the gateway (all services on one port) and manage projects and API keys through the
 * control topic.
 */
const program = new Command();
program
  .name('maniac-gateway')
  .description('Self-hosted Maniac Inference Gateway')
  .option('-c, --config <path>', 'config file (YAML or JSON); default $MANIAC_CONFIG');

function config(): GatewayConfig {
  return loadConfig({ path: program.opts<{ config?: string }>().config });
}

async function withControlPlane<T>(fn: (cp: ControlPlane) => Promise<T>): Promise<T> {
  const cfg = config();
  // Logs go to stderr: stdout carries the command's output (keys, JSON, exported datasets).
  const logger = createLogger({
    name: 'cli',
    level: process.env.LOG_LEVEL ?? 'warn',
    destination: process.stderr,
  });
  const kafka = createKafka({ brokers: cfg.kafka.brokers, clientId: `${cfg.kafka.client_id}-cli`, logger });
  const cp = new ControlPlane(kafka, cfg.kafka.topics.control, logger);
  await cp.start({ timeoutMs: 30_000 });
  try {
    return await fn(cp);
  } finally {
    await cp.stop();
  }
}

function projectOrFail(cp: ControlPlane, nameOrId: string) {
  const project = cp.project(nameOrId);
  if (!project) throw new Error(`no project named ${nameOrId} (see: maniac-gateway projects list)`);
  return project;
}

program
  .command('start')
  .description('run ingest-api, query-api and the writer in one process on one port')
  .action(async () => {
    const cfg = config();
    const ctx = createHostContext(cfg, 'gateway');
    const host = await startHost(
      ctx,
      composeComponents(ctx),
      { host: cfg.server.host, port: cfg.server.port },
      { servesChat: true },
    );
    stopOnSignals(host, ctx.logger, cfg.server.shutdown_grace_ms);
    // First run: a project and a key so a newcomer can make a request right away (printed once, never logged).
    if (ctx.controlPlane.projects().length === 0 && process.env.MANIAC_NO_BOOTSTRAP !== '1') {
      const project = await ctx.controlPlane.createProject('default');
      const { key } = await ctx.controlPlane.createKey(project.id, 'bootstrap');
      console.error(
        `\nFirst start: created project "default" and an API key (shown once, store it now):\n\n  ${key}\n\n` +
          `Try: curl ${host.url}/v1/chat/completions -H "Authorization: Bearer ${key}" ` +
          `-H 'content-type: application/json' -d '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'\n`,
      );
    }
  });

const projects = program.command('projects').description('manage projects');
projects
  .command('create <name>')
  .description('create a project')
  .action(async (name: string) => {
    await withControlPlane(async (cp) => {
      const p = await cp.createProject(name);
      console.log(JSON.stringify({ id: p.id, name: p.name }));
    });
  });
projects
  .command('list')
  .description('list projects')
  .action(async () => {
    await withControlPlane(async (cp) => {
      for (const p of cp.projects()) console.log(`${p.id}\t${p.name}${p.disabled ? '\t(disabled)' : ''}`);
    });
  });

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a non-negative integer, got ${value}`);
  return n;
}

function usd(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected an amount in USD, got ${value}`);
  return n;
}

interface KeyCreateOptions {
  project: string;
  name?: string;
  rpm?: number;
  tpm?: number;
  maxConcurrent?: number;
  allowModels?: string[];
  allowContainers?: string[];
}

projects
  .command('set-budget <project>')
  .description('spend budget per calendar month (UTC) and/or in total, in USD; 0 removes it')
  .option('--monthly <usd>', 'monthly budget', usd)
  .option('--total <usd>', 'lifetime budget', usd)
  .action(async (name: string, o: { monthly?: number; total?: number }) => {
    await withControlPlane(async (cp) => {
      const project = projectOrFail(cp, name);
      const nanos = (v: number | undefined, current: number | null) =>
        v === undefined ? current : v === 0 ? null : Math.round(v * 1e9);
      const p = await cp.updateProject(project.id, {
        monthly_budget_nanos: nanos(o.monthly, project.monthly_budget_nanos),
        total_budget_nanos: nanos(o.total, project.total_budget_nanos),
      });
      console.log(
        JSON.stringify({
          id: p.id,
          monthly_budget_usd: p.monthly_budget_nanos === null ? null : p.monthly_budget_nanos / 1e9,
          total_budget_usd: p.total_budget_nanos === null ? null : p.total_budget_nanos / 1e9,
        }),
      );
    });
  });
projects
  .command('set-limits <project>')
  .description('requests/tokens per minute and concurrency for the whole project; 0 = unlimited')
  .option('--rpm <n>', 'requests per minute', positiveInt)
  .option('--tpm <n>', 'tokens per minute', positiveInt)
  .option('--max-concurrent <n>', 'concurrent requests', positiveInt)
  .action(async (name: string, o: { rpm?: number; tpm?: number; maxConcurrent?: number }) => {
    await withControlPlane(async (cp) => {
      const project = projectOrFail(cp, name);
      const p = await cp.updateProject(project.id, {
        rpm: o.rpm ?? project.rpm,
        tpm: o.tpm ?? project.tpm,
        max_concurrent: o.maxConcurrent ?? project.max_concurrent,
      });
      console.log(JSON.stringify({ id: p.id, rpm: p.rpm, tpm: p.tpm, max_concurrent: p.max_concurrent }));
    });
  });
for (const [command, disabled] of [
  ['disable', true],
  ['enable', false],
] as const) {
  projects
    .command(`${command} <project>`)
    .description(`${command} a project (a disabled project's keys get 403)`)
    .action(async (name: string) => {
      await withControlPlane(async (cp) => {
        await cp.updateProject(projectOrFail(cp, name).id, { disabled });
        console.log(`${command}d ${name}`);
      });
    });
}

const keys = program.command('keys').description('manage API keys (only a SHA-256 of each key is stored)');
keys
  .command('create')
  .description('create an API key; the key is printed once')
  .requiredOption('-p, --project <name>', 'project name or id')
  .option('-n, --name <name>', 'a label for the key')
  .option('--rpm <n>', 'requests per minute for this key', positiveInt)
  .option('--tpm <n>', 'tokens per minute for this key', positiveInt)
  .option('--max-concurrent <n>', 'concurrent requests for this key', positiveInt)
  .option('--allow-models <globs...>', 'only these provider/model patterns, e.g. "openai/*"')
  .option('--allow-containers <labels...>', 'only these containers')
  .action(async (opts: KeyCreateOptions) => {
    await withControlPlane(async (cp) => {
      const project = projectOrFail(cp, opts.project);
      const { key, record } = await cp.createKey(project.id, opts.name ?? null, {
        rpm: opts.rpm ?? null,
        tpm: opts.tpm ?? null,
        max_concurrent: opts.maxConcurrent ?? null,
        allow_models: opts.allowModels ?? [],
        allow_containers: opts.allowContainers ?? [],
      });
      console.error(
        `created ${record.id} for project ${project.name}; store this key now, it is not shown again:`,
      );
      console.log(key);
    });
  });
keys
  .command('list')
  .description('list API keys (ids and prefixes, never the keys)')
  .option('-p, --project <name>', 'only this project')
  .action(async (opts: { project?: string }) => {
    await withControlPlane(async (cp) => {
      const projectId = opts.project ? projectOrFail(cp, opts.project).id : undefined;
      for (const k of cp.keys(projectId)) {
        const status = k.revoked_ms === null ? 'active' : `revoked ${new Date(k.revoked_ms).toISOString()}`;
        console.log(`${k.id}\t${k.project_id}\t${k.prefix}…\t${k.name ?? ''}\t${status}`);
      }
    });
  });
keys
  .command('revoke <keyId>')
  .description('revoke an API key (effective on every running instance within seconds)')
  .action(async (keyId: string) => {
    await withControlPlane(async (cp) => {
      const k = await cp.revokeKey(keyId);
      console.log(`revoked ${k.id}`);
    });
  });

const containers = program
  .command('containers')
  .description("manage a project's containers (maniac:<label>)");
async function withContainers<T>(
  projectName: string,
  fn: (svc: ContainerService, projectId: string) => Promise<T>,
): Promise<T> {
  const cfg = config();
  return withControlPlane(async (cp) => {
    const project = projectOrFail(cp, projectName);
    const svc = new ContainerService(
      cp,
      new ContainerDirectory(cp, cfg.containers),
      (name) => name in cfg.providers,
    );
    return fn(svc, project.id);
  });
}
const print = (value: unknown) => console.log(JSON.stringify(value, null, 2));
containers
  .command('create <label>')
  .description('create a container (get-or-create: an existing label is returned as it is)')
  .requiredOption('-p, --project <name>', 'project name or id')
  .requiredOption('-m, --model <slug>', 'provider/model')
  .option('--fallback <slug...>', 'fallback models, in order')
  .option('--system-prompt <text>', 'default system prompt')
  .option('--params <json>', 'default parameters as a JSON object')
  .action(
    async (
      label: string,
      o: { project: string; model: string; fallback?: string[]; systemPrompt?: string; params?: string },
    ) => {
      await withContainers(o.project, async (svc, projectId) => {
        const { record, created } = await svc.create(projectId, {
          label,
          model: o.model,
          fallback_models: o.fallback ?? [],
          system_prompt: o.systemPrompt ?? null,
          params: o.params ? (JSON.parse(o.params) as Record<string, unknown>) : {},
        });
        if (!created) console.error(`container ${label} already exists; unchanged`);
        print(containerView(record));
      });
    },
  );
containers
  .command('list')
  .requiredOption('-p, --project <name>', 'project name or id')
  .action(async (o: { project: string }) => {
    await withContainers(o.project, async (svc, projectId) => {
      for (const c of svc.list(projectId))
        console.log(`${c.label}\t${c.model}\t${c.fallback_models.join(',')}`);
    });
  });
containers
  .command('show <label>')
  .requiredOption('-p, --project <name>', 'project name or id')
  .action(async (label: string, o: { project: string }) => {
    await withContainers(o.project, async (svc, projectId) => {
      const record = svc.get(projectId, label);
      print(containerView(record, await readContainerStats(config(), projectId, label, stderrLogger())));
    });
  });
containers
  .command('update <label>')
  .description(
    'change model, fallbacks, prompt, params or label; every instance routes with it within seconds',
  )
  .requiredOption('-p, --project <name>', 'project name or id')
  .option('-m, --model <slug>', 'provider/model')
  .option('--fallback <slug...>', 'fallback models, in order')
  .option('--system-prompt <text>', 'default system prompt')
  .option('--params <json>', 'default parameters as a JSON object')
  .option('--rename <label>', 'new label')
  .action(
    async (
      label: string,
      o: {
        project: string;
        model?: string;
        fallback?: string[];
        systemPrompt?: string;
        params?: string;
        rename?: string;
      },
    ) => {
      await withContainers(o.project, async (svc, projectId) => {
        const patch: Record<string, unknown> = {};
        if (o.model) patch.model = o.model;
        if (o.fallback) patch.fallback_models = o.fallback;
        if (o.systemPrompt !== undefined) patch.system_prompt = o.systemPrompt;
        if (o.params) patch.params = JSON.parse(o.params) as unknown;
        if (o.rename) patch.label = o.rename;
        print(containerView(await svc.update(projectId, label, patch)));
      });
    },
  );
containers
  .command('delete <label>')
  .description('stop routing the label (its telemetry stays queryable)')
  .requiredOption('-p, --project <name>', 'project name or id')
  .action(async (label: string, o: { project: string }) => {
    await withContainers(o.project, async (svc, projectId) => {
      await svc.remove(projectId, label);
      console.log(`deleted ${label}`);
    });
  });

// Datasets: export a container's examples as fine-tuning JSONL, and bulk-register JSONL files (./datasets.ts).
function stderrLogger() {
  return createLogger({ name: 'cli', level: process.env.LOG_LEVEL ?? 'warn', destination: process.stderr });
}
containers
  .command('export <label>')
  .description("write the container's dataset as fine-tuning JSONL to stdout (progress on stderr)")
  .requiredOption('-p, --project <name>', 'project name or id')
  .option('--since <time>', 'created at or after (ISO 8601 or unix seconds)')
  .option('--until <time>', 'created before (ISO 8601 or unix seconds)')
  .option('--tags <list>', 'comma-separated tags')
  .option('--tags-match <any|all>', 'an example needs any (default) or all of the tags')
  .option(
    '--source <completion|register|all>',
    'captured completions, registered examples, or both (default)',
  )
  .option('--system-prompt <stored|container>', "prepend the container's system prompt where none was sent")
  .action(
    async (
      label: string,
      o: {
        project: string;
        since?: string;
        until?: string;
        tags?: string;
        tagsMatch?: string;
        source?: string;
        systemPrompt?: string;
      },
    ) => {
      await withControlPlane(async (cp) => {
        await exportDataset({
          config: config(),
          controlPlane: cp,
          projectId: projectOrFail(cp, o.project).id,
          label,
          query: {
            since: o.since,
            until: o.until,
            tags: o.tags,
            tags_match: o.tagsMatch,
            source: o.source,
            system_prompt: o.systemPrompt,
          },
          out: process.stdout,
          progress: new Progress(),
        });
      });
    },
  );
program
  .command('register <file>')
  .description(
    'bulk-register a JSONL file (fine-tuning {"messages":[…]} or register {"input","output"} lines; - for stdin)',
  )
  .requiredOption('--container <label>', 'container label')
  .requiredOption('-p, --project <name>', 'project name or id')
  .option('--batch-size <n>', 'items per batch', '1000')
  .action(async (file: string, o: { container: string; project: string; batchSize: string }) => {
    const summary = await withControlPlane(async (cp) =>
      importDataset({
        config: config(),
        controlPlane: cp,
        projectId: projectOrFail(cp, o.project).id,
        label: o.container,
        file,
        batchSize: Math.max(1, Number.parseInt(o.batchSize, 10) || 1000),
        progress: new Progress(),
        logger: stderrLogger(),
      }),
    );
    console.log(JSON.stringify(summary));
    for (const e of summary.errors.slice(0, 20)) console.error(`line ${e.line}: ${e.message}`);
    if (summary.failed > 0) process.exitCode = 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ApiError || err instanceof ValidationFailure) {
    console.error(err instanceof ApiError ? `${err.code}: ${err.message}` : JSON.stringify(err.detail));
    process.exit(1);
  }
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
