-- What the client of an order is told when its status changes, in one place for both uses: the
-- notify-client handler writes it into notifications inside the batch's one statement (the events
-- never leave the database), and the e-mail sink sends it (subject, text and HTML).
-- The payload is the capture trigger's: { new: <order row>, old: { status, ... } }.

create function html_escape(t text) returns text
language sql immutable parallel safe as $$
  select replace(replace(replace(replace(replace(t,
           '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;

create function order_status_message(payload jsonb, out subject text, out body text, out html text)
language sql immutable parallel safe as $$
  select format('Your order #%s is now %s', n ->> 'id', n ->> 'status'),
         format(E'Hello,\n\nyour order #%s went from %s to %s at %s.\n',
                n ->> 'id', payload #>> '{old,status}', n ->> 'status', n ->> 'updated_at'),
         format(E'<p>Hello,</p>\n<p>your order <strong>#%s</strong> went from %s to '
                '<strong>%s</strong> at %s.</p>\n',
                html_escape(n ->> 'id'), html_escape(payload #>> '{old,status}'),
                html_escape(n ->> 'status'), html_escape(n ->> 'updated_at'))
    from (select payload -> 'new' as n) p
$$;
