-- Who is in the open tasks, counted: per manager and part ('a': scheduled by him,
-- 'd': assignee, 'h': co-executor, 'o': observer), the open tasks he has that part
-- in (a task once per part however often he is listed). `GET /reports/tasks/people`
-- reads these counts instead of every open task. Rows at zero are deleted, so the
-- table depends only on the tasks as they stand. Owned by the `tasks` projection.
CREATE TABLE projections.task_parts (
    manager_id uuid   NOT NULL,
    part       "char" NOT NULL,
    tasks      bigint NOT NULL,
    PRIMARY KEY (manager_id, part)
);

-- Filled from the tasks already projected.
INSERT INTO projections.task_parts (manager_id, part, tasks)
SELECT manager_id, part, count(DISTINCT task_id)
  FROM (SELECT scheduled_by AS manager_id, task_id, 'a'::"char" AS part
          FROM projections.tasks WHERE status = 'open' AND scheduled_by IS NOT NULL
        UNION ALL SELECT assignee_id, task_id, 'd' FROM projections.tasks WHERE status = 'open'
        UNION ALL SELECT unnest(co_executor_ids), task_id, 'h' FROM projections.tasks WHERE status = 'open'
        UNION ALL SELECT unnest(observer_ids), task_id, 'o' FROM projections.tasks WHERE status = 'open') p
 GROUP BY 1, 2;
