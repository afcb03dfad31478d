import type { ContainerRecord } from '@maniac-gateway/schemas';
import type { ContainerConfig, ControlPlane } from '@maniac-gateway/runtime';

/**
 * Containers as routing sees them: a project's own (from the control topic, changed at run time) first, then
 * the config-defined ones, which every project can use.
 */
export class ContainerDirectory {
  private readonly fromConfig: Map<string, ContainerConfig>;
  private readonly parsed = new WeakMap<ContainerRecord, ContainerConfig>();

  constructor(
    private readonly controlPlane: ControlPlane,
    configContainers: ContainerConfig[],
  ) {
    this.fromConfig = new Map(configContainers.map((c) => [c.label, c]));
  }

  get(projectId: string, label: string): ContainerConfig | undefined {
    const record = this.controlPlane.container(projectId, label);
    if (record) return this.toConfig(record);
    return this.fromConfig.get(label);
  }

  configDefined(label: string): ContainerConfig | undefined {
    return this.fromConfig.get(label);
  }

  private toConfig(record: ContainerRecord): ContainerConfig {
    let config = this.parsed.get(record);
    if (!config) {
      let params: Record<string, unknown> = {};
      try {
        const value = JSON.parse(record.params_json) as unknown;
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
          params = value as Record<string, unknown>;
        }
      } catch {
        params = {};
      }
      config = {
        label: record.label,
        model: record.model,
        fallback_models: record.fallback_models,
        system_prompt: record.system_prompt,
        params,
      };
      this.parsed.set(record, config);
    }
    return config;
  }
}
