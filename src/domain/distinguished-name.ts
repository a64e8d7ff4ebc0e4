import type { Name } from "@peculiar/asn1-x509";

/**
 * Distinguished names as people read them (RFC 4514 text) and as the checks read them (the values
 * of one attribute, each a string or the type it has instead).
 */

// Short names of the attribute types a subject usually has; others are shown by OID.
const NAME_TYPES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.6": "C",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "E",
  "2.5.4.42": "G",
  "2.5.4.43": "I",
  "2.5.4.4": "SN",
  "2.5.4.12": "T",
};

const isControl = (code: number) => code < 0x20 || code === 0x7f;

// RFC 4514's escapes, and every control character as \XX: a name is shown to people.
const escapeNameValue = (value: string): string =>
  [
    ...value
      .replace(/([,+"\\<>;])/g, "\\$1")
      .replace(/^([ #])/, "\\$1")
      .replace(/ $/, "\\ "),
  ]
    .map((c) =>
      isControl(c.charCodeAt(0)) ? `\\${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}` : c,
    )
    .join("");

/** A distinguished name as text, "CN=dev-1, O=Acme": its RDNs in certificate order. */
export const nameText = (name: Name): string =>
  name
    .map((rdn) =>
      rdn
        .map((attribute) => {
          const type = NAME_TYPES[attribute.type] ?? attribute.type;
          const value = attribute.value.anyValue
            ? `#${Buffer.from(attribute.value.anyValue).toString("hex")}`
            : escapeNameValue(attribute.value.toString());
          return `${type}=${value}`;
        })
        .join("+"),
    )
    .join(", ");

/** One value of a subject attribute: its text, or the ASN.1 type it has when that is no string. */
export type SubjectValue = { readonly text: string } | { readonly notAString: string };

/** Values of one attribute type (an OID) of a name, in order (a hostile subject may repeat one). */
export const attributeValues = (name: Name, type: string): SubjectValue[] =>
  name.flatMap((rdn) =>
    rdn.filter((attribute) => attribute.type === type).map((attribute) => readString(attribute.value)),
  );

type AttributeValue = Name[number][number]["value"];

// The parser decodes the DirectoryString choices and IA5String; any other type arrives as raw DER.
const readString = (value: AttributeValue): SubjectValue => {
  if (!value.anyValue) return { text: value.toString() };
  const element = new Uint8Array(value.anyValue);
  const tag = element[0] ?? 0;
  const content = primitiveContent(element);
  if ((tag === NUMERIC_STRING || tag === VISIBLE_STRING) && content) {
    return { text: new TextDecoder("latin1").decode(content) };
  }
  return { notAString: ASN1_TYPE_NAMES[tag] ?? `type with tag 0x${tag.toString(16).padStart(2, "0")}` };
};

const NUMERIC_STRING = 0x12;
const VISIBLE_STRING = 0x1a;
const ASN1_TYPE_NAMES: Record<number, string> = {
  1: "BOOLEAN",
  2: "INTEGER",
  3: "BIT STRING",
  4: "OCTET STRING",
  5: "NULL",
  6: "OBJECT IDENTIFIER",
  23: "UTCTime",
  24: "GeneralizedTime",
  48: "SEQUENCE",
  49: "SET",
};

/** The content of a primitive DER element with a short or long length; undefined if it is not one. */
const primitiveContent = (element: Uint8Array): Uint8Array | undefined => {
  const first = element[1];
  if (first === undefined) return undefined;
  let length = first;
  let start = 2;
  if (first & 0x80) {
    const octets = first & 0x7f;
    if (octets === 0 || octets > 2) return undefined;
    length = 0;
    for (let i = 0; i < octets; i += 1) length = (length << 8) | (element[2 + i] ?? 0);
    start = 2 + octets;
  }
  return start + length === element.length ? element.subarray(start) : undefined;
};
