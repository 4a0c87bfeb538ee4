/**
 * Form fields that show the API's validation problem next to themselves. The API names fields as
 * `body.email` (schema validation, `fields[]`); problems found after validation come as one
 * message with a code, which forms map to a field by code (VF_ERR_USER_EXISTS is about the email).
 */
import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from 'react';
import { ApiError, describeError } from '../api/http.js';

export type FieldErrors = Record<string, string>;

/**
 * The problems of a failed call by form field name; what belongs to no field goes under `''`.
 * `byCode` maps error codes that concern one field (a duplicate id, a password policy) to it.
 */
export function fieldErrorsOf(err: unknown, byCode: Record<string, string> = {}): FieldErrors {
  const out: FieldErrors = {};
  if (err instanceof ApiError && err.fields.length > 0) {
    for (const { field, problem } of err.fields) {
      const name = field.replace(/^body\.?/, '');
      out[name === '' ? '' : name] = out[name] === undefined ? problem : `${out[name]}; ${problem}`;
    }
    return out;
  }
  if (err instanceof ApiError && byCode[err.code] !== undefined) {
    out[byCode[err.code]!] = err.message;
    return out;
  }
  out[''] = describeError(err);
  if (err instanceof ApiError && err.problems.length > 0) out[''] += `: ${err.problems.join('; ')}`;
  return out;
}

interface FieldProps {
  label: string;
  error?: string | undefined;
  hint?: ReactNode;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode;
}

export function Field({ label, error, hint, children }: FieldProps) {
  const id = useId();
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [error !== undefined ? errorId : '', hint !== undefined ? hintId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error !== undefined ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, describedBy, invalid: error !== undefined })}
      {hint !== undefined && (
        <span className="field-hint" id={hintId}>
          {hint}
        </span>
      )}
      {error !== undefined && (
        <span className="field-error" id={errorId}>
          {error}
        </span>
      )}
    </div>
  );
}

export function TextField({ label, error, hint, ...input }: InputHTMLAttributes<HTMLInputElement> & { label: string; error?: string | undefined; hint?: ReactNode }) {
  return (
    <Field label={label} error={error} hint={hint}>
      {({ id, describedBy, invalid }) => <input id={id} aria-describedby={describedBy} aria-invalid={invalid || undefined} {...input} />}
    </Field>
  );
}

export function SelectField({ label, error, hint, children, ...select }: SelectHTMLAttributes<HTMLSelectElement> & { label: string; error?: string | undefined; hint?: ReactNode }) {
  return (
    <Field label={label} error={error} hint={hint}>
      {({ id, describedBy, invalid }) => (
        <select id={id} aria-describedby={describedBy} aria-invalid={invalid || undefined} {...select}>
          {children}
        </select>
      )}
    </Field>
  );
}

/** The problems that belong to none of the form's fields (`known`): shown once, above the buttons. */
export function FormError({ errors, known }: { errors: FieldErrors; known: readonly string[] }) {
  const rest = Object.entries(errors).filter(([name]) => !known.includes(name));
  if (rest.length === 0) return null;
  return (
    <p className="field-error form-error" role="alert">
      {rest.map(([name, problem]) => (name === '' ? problem : `${name}: ${problem}`)).join(' · ')}
    </p>
  );
}
