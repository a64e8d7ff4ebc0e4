import { randomUUID } from "node:crypto";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { NotFoundError } from "#domain/errors.js";
import { call } from "./aws-errors.js";

/**
 * Large manifests go to S3: an upload URL is handed out with the batch's parameters bound into
 * the signed request as object metadata, and the ingest function reads them back from the object.
 */
export interface UploadTicket {
  readonly uploadUrl: string;
  readonly key: string;
  /** Headers the upload must send exactly as given: they are part of the signature. */
  readonly headers: Readonly<Record<string, string>>;
  readonly expiresInSeconds: number;
}

export interface ManifestMetadata {
  /** None for a batch born only through fleet provisioning. */
  readonly caCertificateId?: string;
  readonly batchId: string;
  readonly signature?: string;
  readonly actor: string;
}

/** An uploaded manifest's parameters, and the object version they were read from. */
export interface StoredManifest extends ManifestMetadata {
  /** Absent when the bucket keeps no versions (an emulator, say): then only the digests protect. */
  readonly versionId?: string;
}

export const MANIFEST_PREFIX = "manifests/";
const UPLOAD_EXPIRY_SECONDS = 900;
const NO_CA = "none";

export const s3Manifests = (s3: S3Client, bucket: string) => ({
  async uploadTicket(metadata: ManifestMetadata): Promise<UploadTicket> {
    const key = `${MANIFEST_PREFIX}${new Date().toISOString().slice(0, 10)}/${randomUUID()}`;
    const meta: Record<string, string> = {
      // Always present and signed, "none" for no CA: an upload cannot add one the ticket did not name.
      "ca-certificate-id": metadata.caCertificateId ?? NO_CA,
      actor: metadata.actor,
      "batch-id": metadata.batchId,
      ...(metadata.signature ? { "manifest-signature": metadata.signature } : {}),
    };
    const uploadUrl = await getSignedUrl(
      s3,
      new PutObjectCommand({ Bucket: bucket, Key: key, Metadata: meta }),
      {
        expiresIn: UPLOAD_EXPIRY_SECONDS,
        // Bind the metadata into the signature: an upload cannot change the batch it was issued for.
        signableHeaders: new Set(Object.keys(meta).map((name) => `x-amz-meta-${name}`)),
        unhoistableHeaders: new Set(Object.keys(meta).map((name) => `x-amz-meta-${name}`)),
      },
    );
    const headers = Object.fromEntries(
      Object.entries(meta).map(([name, value]) => [`x-amz-meta-${name}`, value]),
    );
    return { uploadUrl, key, headers, expiresInSeconds: UPLOAD_EXPIRY_SECONDS };
  },

  /**
   * The parameters of the given version of the object (the one its S3 event names), or of the
   * current one, which is then the version both passes read.
   */
  async metadata(key: string, versionId?: string): Promise<StoredManifest | undefined> {
    const head = await call("HeadObject", () =>
      s3.send(
        new HeadObjectCommand({ Bucket: bucket, Key: key, ...(versionId ? { VersionId: versionId } : {}) }),
      ),
    );
    const meta = head.Metadata ?? {};
    const version = versionId ?? head.VersionId;
    const ca = meta["ca-certificate-id"];
    const batchId = meta["batch-id"];
    if (!ca || !batchId) return undefined;
    return {
      ...(ca === NO_CA ? {} : { caCertificateId: ca }),
      batchId,
      actor: meta.actor ?? "unknown",
      ...(meta["manifest-signature"] ? { signature: meta["manifest-signature"] } : {}),
      ...(version ? { versionId: version } : {}),
    };
  },

  /**
   * Streams the object; each call is a new GET, so the manifest can be read twice without holding
   * it. Given a version, every read gets that version, whatever was uploaded over it since.
   */
  readObject(key: string, versionId?: string): AsyncIterable<Uint8Array> {
    return {
      async *[Symbol.asyncIterator]() {
        const out = await call("GetObject", () =>
          s3.send(
            new GetObjectCommand({
              Bucket: bucket,
              Key: key,
              ...(versionId ? { VersionId: versionId } : {}),
            }),
          ),
        );
        if (!out.Body) throw new NotFoundError(`s3://${bucket}/${key} has no body`);
        yield* out.Body as AsyncIterable<Uint8Array>;
      },
    };
  },
});

export type S3Manifests = ReturnType<typeof s3Manifests>;
