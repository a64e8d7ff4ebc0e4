import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IoTClient } from "@aws-sdk/client-iot";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { IotRetryStrategy } from "./iot-retry.js";

/**
 * The SDK clients, each made once per container on first use (so a test or the local stack can
 * point AWS_ENDPOINT_URL at the emulator before). IoT retries a passing failure a few times but
 * never a throttle: its quotas are low (10 TPS for DescribeCertificate and UpdateCertificate), and
 * the deployment's IoT budget answers throttling for every container (iot-retry.ts).
 * A function that traces (tracing.ts) has each client captured as it is made; the document client
 * sends through the DynamoDB client's middleware, so it is traced with it.
 */
let iot: IoTClient | undefined;
let dynamodb: DynamoDBClient | undefined;
let s3: S3Client | undefined;
let sqs: SQSClient | undefined;
let lambda: LambdaClient | undefined;
let documents: DynamoDBDocumentClient | undefined;
let capture = <T>(client: T): T => client;

/** How clients made from now on are wrapped (tracing.ts sets X-Ray's capture). */
export const captureClientsWith = (wrap: <T>(client: T) => T): void => {
  capture = wrap;
};

export const iotClient = (): IoTClient => {
  iot ??= capture(new IoTClient({ retryStrategy: new IotRetryStrategy() }));
  return iot;
};

export const dynamoDbClient = (): DynamoDBClient => {
  dynamodb ??= capture(new DynamoDBClient({ maxAttempts: 5 }));
  return dynamodb;
};

export const documentClient = (): DynamoDBDocumentClient => {
  documents ??= DynamoDBDocumentClient.from(dynamoDbClient(), {
    marshallOptions: { removeUndefinedValues: true },
  });
  return documents;
};

// Path-style addressing works with every S3 endpoint, the emulator's included.
export const s3Client = (): S3Client => {
  s3 ??= capture(new S3Client({ forcePathStyle: true }));
  return s3;
};

export const sqsClient = (): SQSClient => {
  sqs ??= capture(new SQSClient({}));
  return sqs;
};

export const lambdaClient = (): LambdaClient => {
  lambda ??= capture(new LambdaClient({}));
  return lambda;
};
