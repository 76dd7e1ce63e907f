\set p random(1, 10000)
select count(*) from awe.inbox('p' || :p, page_size => 50);
