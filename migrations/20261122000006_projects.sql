-- Collective projects (Pass Numérique): a structure (a prescriber organisation) and an EPN run a
-- project for 5 to 10 people; once approved, each member holds a pass for the project's hours.
CREATE TABLE projects (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    id               uuid NOT NULL,
    scheme_id        uuid NOT NULL,
    prescriber_id    uuid NOT NULL,
    epn_id           uuid NOT NULL,
    title            text NOT NULL CONSTRAINT projects_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    aim              text NOT NULL CONSTRAINT projects_aim_length CHECK (char_length(aim) BETWEEN 1 AND 2000),
    planned_sessions integer NOT NULL CONSTRAINT projects_planned_sessions_range CHECK (planned_sessions BETWEEN 1 AND 100),
    planned_minutes  integer NOT NULL CONSTRAINT projects_planned_minutes_range CHECK (planned_minutes BETWEEN 1 AND 100000),
    status           text NOT NULL DEFAULT 'submitted' CONSTRAINT projects_status_known CHECK (status IN ('submitted', 'approved', 'rejected')),
    decision_reason  text,
    decided_at       timestamptz,
    submitted_by     uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT projects_scheme_fkey FOREIGN KEY (tenant_id, scheme_id) REFERENCES schemes (tenant_id, id),
    CONSTRAINT projects_prescriber_fkey FOREIGN KEY (tenant_id, prescriber_id) REFERENCES prescribers (tenant_id, id),
    CONSTRAINT projects_epn_fkey FOREIGN KEY (tenant_id, epn_id) REFERENCES epns (tenant_id, id)
);
CREATE INDEX projects_scheme_idx ON projects (tenant_id, scheme_id, status);
CREATE INDEX projects_prescriber_idx ON projects (tenant_id, prescriber_id);
CREATE INDEX projects_epn_idx ON projects (tenant_id, epn_id);
SELECT enable_tenant_isolation('projects');

CREATE TABLE project_members (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    project_id     uuid NOT NULL,
    beneficiary_id uuid NOT NULL,
    voucher_id     uuid,
    PRIMARY KEY (tenant_id, project_id, beneficiary_id),
    CONSTRAINT project_members_project_fkey FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id),
    CONSTRAINT project_members_beneficiary_fkey FOREIGN KEY (tenant_id, beneficiary_id) REFERENCES beneficiaries (tenant_id, id),
    CONSTRAINT project_members_voucher_fkey FOREIGN KEY (tenant_id, voucher_id) REFERENCES vouchers (tenant_id, id)
);
CREATE INDEX project_members_beneficiary_idx ON project_members (tenant_id, beneficiary_id);
CREATE INDEX project_members_voucher_idx ON project_members (tenant_id, voucher_id);
SELECT enable_tenant_isolation('project_members');
