import { loadConfig, NODE_REGION_CONFIG_FILE_OPTIONS, NODE_REGION_CONFIG_OPTIONS } from "@smithy/core/config";

/**
 * The region as the AWS tools find it, after --region: AWS_REGION, then AWS_DEFAULT_REGION (the
 * AWS CLI's, which the SDK alone does not read), then the profile's `region` in the shared config
 * files. The SDK's own provider, so profiles, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE mean
 * what they mean to the AWS CLI. Undefined when none says; no instance metadata lookup, which
 * would stall a second on a laptop.
 */
export const regionFromAwsConfig = async (profile: string | undefined): Promise<string | undefined> =>
  loadConfig(
    {
      ...NODE_REGION_CONFIG_OPTIONS,
      environmentVariableSelector: (env) => env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
      default: () => undefined,
    },
    { ...NODE_REGION_CONFIG_FILE_OPTIONS, ...(profile ? { profile } : {}) },
  )();
