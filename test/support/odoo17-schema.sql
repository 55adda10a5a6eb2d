-- The queue_job schema exactly as Odoo 17.0 + queue_job 17.0.1.0.5 creates it, for tests, the demo and
-- benchmarks. The queue_job part is a pg_dump of a real install (PostgreSQL 15) with only the dump's
-- session SETs removed: `set_config('search_path', '', false)` would otherwise stay on the loading
-- connection. Everything is schema-qualified, so the file loads under any search_path.
--
-- Odoo core tables the runner touches or the foreign keys need (res_users, res_company, ir_model,
-- ir_config_parameter, ir_module_module) are minimal stand-ins with the columns that matter; the seed
-- rows at the end are the ones a fresh install has (root channel, web.base.url, installed module).

-- Odoo core stand-ins ------------------------------------------------------------------------------

CREATE TABLE public.res_users (
    id serial PRIMARY KEY
);

CREATE TABLE public.res_company (
    id serial PRIMARY KEY
);

CREATE TABLE public.ir_model (
    id serial PRIMARY KEY,
    model character varying
);

CREATE TABLE public.ir_config_parameter (
    id serial PRIMARY KEY,
    key character varying NOT NULL,
    value text NOT NULL,
    create_uid integer REFERENCES public.res_users(id) ON DELETE SET NULL,
    create_date timestamp without time zone,
    write_uid integer REFERENCES public.res_users(id) ON DELETE SET NULL,
    write_date timestamp without time zone,
    CONSTRAINT ir_config_parameter_key_uniq UNIQUE (key)
);

CREATE TABLE public.ir_module_module (
    id serial PRIMARY KEY,
    name character varying,
    state character varying,
    latest_version character varying
);

-- queue_job: NOTIFY trigger function (queue_job's post_init_hook) ------------------------------------

CREATE OR REPLACE FUNCTION public.queue_job_notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
            BEGIN
                IF TG_OP = 'DELETE' THEN
                    IF OLD.state != 'done' THEN
                        PERFORM pg_notify('queue_job', OLD.uuid);
                    END IF;
                ELSE
                    PERFORM pg_notify('queue_job', NEW.uuid);
                END IF;
                RETURN NULL;
            END;
            $function$
;

-- queue_job tables (pg_dump of the real install) ----------------------------------------------------

--
-- Name: queue_job; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queue_job (
    id integer NOT NULL,
    user_id integer,
    company_id integer,
    priority integer,
    retry integer,
    max_retries integer,
    job_function_id integer,
    worker_pid integer,
    uuid character varying NOT NULL,
    graph_uuid character varying,
    name character varying,
    model_name character varying,
    method_name character varying,
    func_string character varying,
    state character varying NOT NULL,
    exc_name character varying,
    exc_message character varying,
    channel_method_name character varying,
    channel character varying,
    identity_key character varying,
    records text,
    dependencies text,
    args text,
    kwargs text,
    exc_info text,
    result text,
    date_created timestamp without time zone,
    date_started timestamp without time zone,
    date_enqueued timestamp without time zone,
    date_done timestamp without time zone,
    date_cancelled timestamp without time zone,
    eta timestamp without time zone,
    exec_time double precision
);


--
-- Name: TABLE queue_job; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.queue_job IS 'Queue Job';


--
-- Name: COLUMN queue_job.user_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.user_id IS 'User ID';


--
-- Name: COLUMN queue_job.company_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.company_id IS 'Company';


--
-- Name: COLUMN queue_job.priority; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.priority IS 'Priority';


--
-- Name: COLUMN queue_job.retry; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.retry IS 'Current try';


--
-- Name: COLUMN queue_job.max_retries; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.max_retries IS 'Max. retries';


--
-- Name: COLUMN queue_job.job_function_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.job_function_id IS 'Job Function';


--
-- Name: COLUMN queue_job.worker_pid; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.worker_pid IS 'Worker Pid';


--
-- Name: COLUMN queue_job.uuid; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.uuid IS 'UUID';


--
-- Name: COLUMN queue_job.graph_uuid; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.graph_uuid IS 'Graph UUID';


--
-- Name: COLUMN queue_job.name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.name IS 'Description';


--
-- Name: COLUMN queue_job.model_name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.model_name IS 'Model';


--
-- Name: COLUMN queue_job.method_name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.method_name IS 'Method Name';


--
-- Name: COLUMN queue_job.func_string; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.func_string IS 'Task';


--
-- Name: COLUMN queue_job.state; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.state IS 'State';


--
-- Name: COLUMN queue_job.exc_name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.exc_name IS 'Exception';


--
-- Name: COLUMN queue_job.exc_message; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.exc_message IS 'Exception Message';


--
-- Name: COLUMN queue_job.channel_method_name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.channel_method_name IS 'Complete Method Name';


--
-- Name: COLUMN queue_job.channel; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.channel IS 'Channel';


--
-- Name: COLUMN queue_job.identity_key; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.identity_key IS 'Identity Key';


--
-- Name: COLUMN queue_job.records; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.records IS 'Record(s)';


--
-- Name: COLUMN queue_job.dependencies; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.dependencies IS 'Dependencies';


--
-- Name: COLUMN queue_job.args; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.args IS 'Args';


--
-- Name: COLUMN queue_job.kwargs; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.kwargs IS 'Kwargs';


--
-- Name: COLUMN queue_job.exc_info; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.exc_info IS 'Exception Info';


--
-- Name: COLUMN queue_job.result; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.result IS 'Result';


--
-- Name: COLUMN queue_job.date_created; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.date_created IS 'Created Date';


--
-- Name: COLUMN queue_job.date_started; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.date_started IS 'Start Date';


--
-- Name: COLUMN queue_job.date_enqueued; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.date_enqueued IS 'Enqueue Time';


--
-- Name: COLUMN queue_job.date_done; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.date_done IS 'Date Done';


--
-- Name: COLUMN queue_job.date_cancelled; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.date_cancelled IS 'Date Cancelled';


--
-- Name: COLUMN queue_job.eta; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.eta IS 'Execute only after';


--
-- Name: COLUMN queue_job.exec_time; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job.exec_time IS 'Execution Time (avg)';


--
-- Name: queue_job_channel; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queue_job_channel (
    id integer NOT NULL,
    parent_id integer,
    removal_interval integer NOT NULL,
    create_uid integer,
    write_uid integer,
    name character varying,
    complete_name character varying,
    create_date timestamp without time zone,
    write_date timestamp without time zone
);


--
-- Name: TABLE queue_job_channel; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.queue_job_channel IS 'Job Channels';


--
-- Name: COLUMN queue_job_channel.parent_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_channel.parent_id IS 'Parent Channel';


--
-- Name: COLUMN queue_job_channel.removal_interval; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_channel.removal_interval IS 'Removal Interval';


--
-- Name: COLUMN queue_job_channel.create_uid; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_channel.create_uid IS 'Created by';


--
-- Name: COLUMN queue_job_channel.write_uid; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_channel.write_uid IS 'Last Updated by';


--
-- Name: COLUMN queue_job_channel.name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_channel.name IS 'Name';


--
-- Name: COLUMN queue_job_channel.complete_name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_channel.complete_name IS 'Complete Name';


--
-- Name: COLUMN queue_job_channel.create_date; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_channel.create_date IS 'Created on';


--
-- Name: COLUMN queue_job_channel.write_date; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_channel.write_date IS 'Last Updated on';


--
-- Name: queue_job_channel_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.queue_job_channel_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: queue_job_channel_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.queue_job_channel_id_seq OWNED BY public.queue_job_channel.id;


--
-- Name: queue_job_function; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.queue_job_function (
    id integer NOT NULL,
    model_id integer,
    channel_id integer NOT NULL,
    name character varying,
    method character varying,
    channel character varying,
    retry_pattern text,
    related_action text
);


--
-- Name: TABLE queue_job_function; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.queue_job_function IS 'Job Functions';


--
-- Name: COLUMN queue_job_function.model_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_function.model_id IS 'Model';


--
-- Name: COLUMN queue_job_function.channel_id; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_function.channel_id IS 'Channel';


--
-- Name: COLUMN queue_job_function.name; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_function.name IS 'Name';


--
-- Name: COLUMN queue_job_function.method; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_function.method IS 'Method';


--
-- Name: COLUMN queue_job_function.channel; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_function.channel IS 'Complete Name';


--
-- Name: COLUMN queue_job_function.retry_pattern; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_function.retry_pattern IS 'Retry Pattern (serialized)';


--
-- Name: COLUMN queue_job_function.related_action; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.queue_job_function.related_action IS 'Related Action (serialized)';


--
-- Name: queue_job_function_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.queue_job_function_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: queue_job_function_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.queue_job_function_id_seq OWNED BY public.queue_job_function.id;


--
-- Name: queue_job_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.queue_job_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: queue_job_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.queue_job_id_seq OWNED BY public.queue_job.id;


--
-- Name: queue_job id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job ALTER COLUMN id SET DEFAULT nextval('public.queue_job_id_seq'::regclass);


--
-- Name: queue_job_channel id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_channel ALTER COLUMN id SET DEFAULT nextval('public.queue_job_channel_id_seq'::regclass);


--
-- Name: queue_job_function id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_function ALTER COLUMN id SET DEFAULT nextval('public.queue_job_function_id_seq'::regclass);


--
-- Name: queue_job_channel queue_job_channel_name_uniq; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_channel
    ADD CONSTRAINT queue_job_channel_name_uniq UNIQUE (complete_name);


--
-- Name: CONSTRAINT queue_job_channel_name_uniq ON queue_job_channel; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON CONSTRAINT queue_job_channel_name_uniq ON public.queue_job_channel IS 'unique(complete_name)';


--
-- Name: queue_job_channel queue_job_channel_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_channel
    ADD CONSTRAINT queue_job_channel_pkey PRIMARY KEY (id);


--
-- Name: queue_job_function queue_job_function_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_function
    ADD CONSTRAINT queue_job_function_pkey PRIMARY KEY (id);


--
-- Name: queue_job queue_job_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job
    ADD CONSTRAINT queue_job_pkey PRIMARY KEY (id);


--
-- Name: queue_job__channel_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_job__channel_index ON public.queue_job USING btree (channel);


--
-- Name: queue_job__company_id_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_job__company_id_index ON public.queue_job USING btree (company_id);


--
-- Name: queue_job__graph_uuid_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_job__graph_uuid_index ON public.queue_job USING btree (graph_uuid);


--
-- Name: queue_job__state_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_job__state_index ON public.queue_job USING btree (state);


--
-- Name: queue_job__uuid_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_job__uuid_index ON public.queue_job USING btree (uuid);


--
-- Name: queue_job_function__name_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_job_function__name_index ON public.queue_job_function USING btree (name);


--
-- Name: queue_job_identity_key_state_partial_index; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX queue_job_identity_key_state_partial_index ON public.queue_job USING btree (identity_key) WHERE (((state)::text = ANY ((ARRAY['pending'::character varying, 'enqueued'::character varying])::text[])) AND (identity_key IS NOT NULL));


--
-- Name: queue_job queue_job_notify; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER queue_job_notify AFTER INSERT OR DELETE OR UPDATE ON public.queue_job FOR EACH ROW EXECUTE FUNCTION public.queue_job_notify();


--
-- Name: queue_job_channel queue_job_channel_create_uid_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_channel
    ADD CONSTRAINT queue_job_channel_create_uid_fkey FOREIGN KEY (create_uid) REFERENCES public.res_users(id) ON DELETE SET NULL;


--
-- Name: queue_job_channel queue_job_channel_parent_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_channel
    ADD CONSTRAINT queue_job_channel_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES public.queue_job_channel(id) ON DELETE RESTRICT;


--
-- Name: queue_job_channel queue_job_channel_write_uid_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_channel
    ADD CONSTRAINT queue_job_channel_write_uid_fkey FOREIGN KEY (write_uid) REFERENCES public.res_users(id) ON DELETE SET NULL;


--
-- Name: queue_job queue_job_company_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job
    ADD CONSTRAINT queue_job_company_id_fkey FOREIGN KEY (company_id) REFERENCES public.res_company(id) ON DELETE SET NULL;


--
-- Name: queue_job_function queue_job_function_channel_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_function
    ADD CONSTRAINT queue_job_function_channel_id_fkey FOREIGN KEY (channel_id) REFERENCES public.queue_job_channel(id) ON DELETE RESTRICT;


--
-- Name: queue_job_function queue_job_function_model_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job_function
    ADD CONSTRAINT queue_job_function_model_id_fkey FOREIGN KEY (model_id) REFERENCES public.ir_model(id) ON DELETE CASCADE;


--
-- Name: queue_job queue_job_job_function_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job
    ADD CONSTRAINT queue_job_job_function_id_fkey FOREIGN KEY (job_function_id) REFERENCES public.queue_job_function(id) ON DELETE SET NULL;


--
-- Name: queue_job queue_job_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.queue_job
    ADD CONSTRAINT queue_job_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.res_users(id) ON DELETE SET NULL;


-- Seed rows of a fresh install ----------------------------------------------------------------------

-- 1 = __system__ (OdooBot, superuser), 2 = admin; company 1 = main company.
INSERT INTO public.res_users (id) VALUES (1), (2);
SELECT pg_catalog.setval('public.res_users_id_seq', 2, true);
INSERT INTO public.res_company (id) VALUES (1);
SELECT pg_catalog.setval('public.res_company_id_seq', 1, true);
INSERT INTO public.ir_model (model) VALUES ('queue.job'), ('res.partner');

INSERT INTO public.ir_module_module (name, state, latest_version) VALUES
    ('base', 'installed', '17.0.1.3'),
    ('queue_job', 'installed', '17.0.1.0.5');

INSERT INTO public.ir_config_parameter (key, value, create_uid, create_date, write_uid, write_date)
VALUES ('web.base.url', 'http://localhost:8069', 1, now() AT TIME ZONE 'utc', 1, now() AT TIME ZONE 'utc');

-- queue_job.channel_root (data/queue_data.xml); removal_interval defaults to 30 days.
INSERT INTO public.queue_job_channel (name, complete_name, removal_interval, create_uid, create_date, write_uid, write_date)
VALUES ('root', 'root', 30, 1, now() AT TIME ZONE 'utc', 1, now() AT TIME ZONE 'utc');
