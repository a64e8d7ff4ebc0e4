import { randomUUID } from "node:crypto";
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { CreateThingCommand, DescribeThingCommand, IoTClient } from "@aws-sdk/client-iot";
import { expect, it } from "vitest";
import { useMoto } from "#test/support/aws-env.js";

// Files share one moto server and run side by side: unique names, no reset.
const endpoint = useMoto();
const suffix = randomUUID().slice(0, 8);

it("serves IoT on the injected loopback endpoint", async () => {
  expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const iot = new IoTClient({});
  const thingName = `smoke-${suffix}`;
  const created = await iot.send(
    new CreateThingCommand({ thingName, attributePayload: { attributes: { line: "smoke" } } }),
  );
  const described = await iot.send(new DescribeThingCommand({ thingName }));
  expect(described).toMatchObject({ thingName, thingArn: created.thingArn, attributes: { line: "smoke" } });
});

it("serves DynamoDB on the same endpoint", async () => {
  const dynamodb = new DynamoDBClient({});
  const TableName = `smoke-${suffix}`;
  await dynamodb.send(
    new CreateTableCommand({
      TableName,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    }),
  );
  await dynamodb.send(
    new PutItemCommand({ TableName, Item: { pk: { S: "device#1" }, state: { S: "ACTIVE" } } }),
  );
  const { Item } = await dynamodb.send(
    new GetItemCommand({ TableName, Key: { pk: { S: "device#1" } }, ConsistentRead: true }),
  );
  expect(Item).toEqual({ pk: { S: "device#1" }, state: { S: "ACTIVE" } });
});
