//! The one SQL implementation of `DetectStore`, shared by PostgreSQL and
//! SQLite. Statements are portable (`$N` parameters, `RETURNING`,
//! `ON CONFLICT … DO NOTHING`); each backend defines `begin_write`.

/// Implements `DetectStore` for `$store` over database `$db`.
macro_rules! impl_detect_store {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn run_row(
                conn: &mut <$db as sqlx::Database>::Connection,
                id: i64,
            ) -> $crate::error::Result<$crate::domain::Run> {
                let sql = format!(
                    "SELECT {} FROM detection_runs WHERE id = $1",
                    $crate::store::rows::RUN_COLUMNS
                );
                let row = sqlx::query_as::<_, $crate::store::rows::RunRow>(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| {
                        $crate::error::DetectError::NotFound(format!(
                            "id: detection run {id} not found (runs expire after the retention; \
                             its anomalies stay listable with run_id {id})"
                        ))
                    })?;
                let mut run: $crate::domain::Run = row.try_into()?;
                run.anomaly_ids = sqlx::query_scalar("SELECT id FROM anomalies WHERE run_id = $1 ORDER BY id")
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
                Ok(run)
            }

            /// Fills `anomaly_ids` of `runs` (one query).
            async fn attach_anomaly_ids(
                conn: &mut <$db as sqlx::Database>::Connection,
                runs: &mut [$crate::domain::Run],
            ) -> $crate::error::Result<()> {
                if runs.is_empty() {
                    return Ok(());
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT run_id, id FROM anomalies WHERE run_id IN (",
                );
                let mut ids = qb.separated(", ");
                for r in runs.iter() {
                    ids.push_bind(r.id);
                }
                qb.push(") ORDER BY id");
                let pairs: Vec<(i64, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
                for (run_id, id) in pairs {
                    if let Some(run) = runs.iter_mut().find(|r| r.id == run_id) {
                        run.anomaly_ids.push(id);
                    }
                }
                Ok(())
            }

            /// Inside a write transaction: stores `anomalies` under run `run_id`
            /// and completes the run with `outcome`. Returns the run and the
            /// anomalies as stored. Shared by `complete_run` and backfill jobs.
            pub(crate) async fn store_results(
                conn: &mut <$db as sqlx::Database>::Connection,
                run_id: i64,
                series: &$crate::domain::SeriesMeta,
                outcome: &$crate::domain::RunOutcome,
                anomalies: &[$crate::domain::NewAnomaly],
                now: i64,
            ) -> $crate::error::Result<($crate::domain::Run, Vec<$crate::domain::Anomaly>)> {
                use $crate::store::rows::{features_json, i};
                // What the anomalies copy from their run, which may expire first.
                let (trigger, started): (String, i64) = sqlx::query_as(
                    "SELECT run_trigger, started_at_ms FROM detection_runs WHERE id = $1",
                )
                .bind(run_id)
                .fetch_one(&mut *conn)
                .await?;
                for chunk in anomalies.chunks($crate::store::INSERT_CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO anomalies (run_id, ticker, bar_interval, ts, close, volume, features, \
                         score, label, model_name, model_version, model_sha256, created_at_ms, whitelisted, \
                         run_trigger, run_started_at_ms) ",
                    );
                    qb.push_values(chunk, |mut b, a| {
                        b.push_bind(run_id)
                            .push_bind(series.ticker.clone())
                            .push_bind(series.interval.clone())
                            .push_bind(a.timestamp)
                            .push_bind(a.close)
                            .push_bind(a.volume)
                            .push_bind(features_json(&a.features))
                            .push_bind(f64::from(a.score))
                            .push_bind(a.label)
                            .push_bind(a.model_name.clone())
                            .push_bind(a.model_version.clone())
                            .push_bind(a.model_sha256.clone())
                            .push_bind(now)
                            .push_bind(a.whitelisted)
                            .push_bind(trigger.clone())
                            .push_bind(started);
                    });
                    qb.build().execute(&mut *conn).await?;
                }
                let warnings = serde_json::to_string(&outcome.warnings)
                    .map_err(|e| $crate::error::DetectError::Corrupt(format!("warnings: {e}")))?;
                sqlx::query(
                    "UPDATE detection_runs SET model_version = $1, model_sha256 = $2, completed_at_ms = $3,
                     rows_loaded = $4, rows_preprocessed = $5, rows_scored = $6, anomalies_found = $7,
                     status = $8, warnings = $9, rules_applied = $10, whitelist_entries = $11,
                     anomalies_whitelisted = $12 WHERE id = $13",
                )
                .bind(&outcome.model_version)
                .bind(&outcome.model_sha256)
                .bind(now)
                .bind(i(outcome.rows_loaded))
                .bind(i(outcome.rows_preprocessed))
                .bind(i(outcome.rows_scored))
                .bind(i(anomalies.len() as u64))
                .bind($crate::domain::RunStatus::Complete.as_str())
                .bind(warnings)
                .bind($crate::store::rows::rules_json(&outcome.rules_applied))
                .bind(i(outcome.whitelist_entries))
                .bind(i(anomalies.iter().filter(|a| a.whitelisted).count() as u64))
                .bind(run_id)
                .execute(&mut *conn)
                .await?;
                let run = Self::run_row(&mut *conn, run_id).await?;
                let sql = format!(
                    "SELECT {} FROM anomalies WHERE run_id = $1 ORDER BY id",
                    $crate::store::rows::ANOMALY_COLUMNS
                );
                let mut stored = if anomalies.is_empty() {
                    Vec::new()
                } else {
                    sqlx::query_as::<_, $crate::store::rows::AnomalyRow>(sqlx::AssertSqlSafe(sql))
                        .bind(run_id)
                        .fetch_all(&mut *conn)
                        .await?
                        .into_iter()
                        .map(TryInto::try_into)
                        .collect::<$crate::error::Result<Vec<$crate::domain::Anomaly>>>()?
                };
                // One series per run: the bar time identifies the anomaly.
                let ids: std::collections::HashMap<i64, i64> =
                    stored.iter().map(|a| (a.timestamp, a.id)).collect();
                let matches: Vec<(i64, &$crate::rules::RuleMatch)> = anomalies
                    .iter()
                    .filter_map(|a| ids.get(&a.timestamp).map(|id| (*id, &a.matches)))
                    .flat_map(|(id, ms)| ms.iter().map(move |m| (id, m)))
                    .collect();
                for chunk in matches.chunks($crate::store::INSERT_CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO anomaly_matches (anomaly_id, anomaly_type, measured, operator, threshold) ",
                    );
                    qb.push_values(chunk, |mut b, (id, m)| {
                        b.push_bind(*id)
                            .push_bind(m.anomaly_type.as_str())
                            .push_bind(m.value)
                            .push_bind(m.operator.as_str())
                            .push_bind(m.threshold);
                    });
                    qb.build().execute(&mut *conn).await?;
                }
                if !stored.is_empty() {
                    Self::load_matches(&mut *conn, &mut stored).await?;
                }
                // The run's notification, in the same transaction: written
                // with the anomalies or not at all (delivered at least once).
                let notified: Vec<&$crate::domain::Anomaly> =
                    stored.iter().filter(|a| !a.whitelisted).collect();
                if outcome.notify && !notified.is_empty() {
                    let delivery_id = $crate::notify::new_delivery_id();
                    let body = $crate::notify::anomalies_event(&delivery_id, &run, &notified, now);
                    sqlx::query(
                        "INSERT INTO detection_notifications (delivery_id, kind, run_id, body, status,
                         next_attempt_at_ms, created_at_ms, updated_at_ms)
                         VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5)",
                    )
                    .bind(&delivery_id)
                    .bind($crate::notify::ANOMALIES_KIND)
                    .bind(run_id)
                    .bind(body)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "UPDATE anomalies SET notification_state = 'pending'
                         WHERE run_id = $1 AND whitelisted = $2",
                    )
                    .bind(run_id)
                    .bind(false)
                    .execute(&mut *conn)
                    .await?;
                    for a in stored.iter_mut().filter(|a| !a.whitelisted) {
                        a.notification_state = "pending".to_owned();
                    }
                }
                Ok((run, stored))
            }

            /// Reads the rule matches of `anomalies` and attaches them.
            async fn load_matches(
                conn: &mut <$db as sqlx::Database>::Connection,
                anomalies: &mut [$crate::domain::Anomaly],
            ) -> $crate::error::Result<()> {
                let mut rows = Vec::new();
                for chunk in anomalies.chunks($crate::store::INSERT_CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT {} FROM anomaly_matches WHERE anomaly_id IN (",
                        $crate::store::rows::MATCH_COLUMNS
                    ));
                    let mut ids = qb.separated(", ");
                    for a in chunk {
                        ids.push_bind(a.id);
                    }
                    qb.push(")");
                    rows.extend(
                        qb.build_query_as::<$crate::store::rows::MatchRow>()
                            .fetch_all(&mut *conn)
                            .await?,
                    );
                }
                $crate::store::rows::attach_matches(anomalies, rows)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::DetectStore for $store {
            async fn insert_bars(
                &self,
                ticker: &str,
                interval: &str,
                bars: &[joust_models::features::Bar],
            ) -> $crate::error::Result<u64> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO series (ticker, bar_interval) VALUES ($1, $2)
                     ON CONFLICT (ticker, bar_interval) DO NOTHING",
                )
                .bind(ticker)
                .bind(interval)
                .execute(&mut *tx)
                .await?;
                let series_id: i64 =
                    sqlx::query_scalar("SELECT id FROM series WHERE ticker = $1 AND bar_interval = $2")
                        .bind(ticker)
                        .bind(interval)
                        .fetch_one(&mut *tx)
                        .await?;
                let mut inserted = 0;
                for chunk in bars.chunks($crate::store::INSERT_CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO bars (series_id, ts, open, high, low, close, volume) ",
                    );
                    qb.push_values(chunk, |mut b, bar| {
                        b.push_bind(series_id)
                            .push_bind(bar.timestamp)
                            .push_bind(bar.open)
                            .push_bind(bar.high)
                            .push_bind(bar.low)
                            .push_bind(bar.close)
                            .push_bind(bar.volume);
                    });
                    qb.push(" ON CONFLICT (series_id, ts) DO NOTHING");
                    inserted += qb.build().execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
                Ok(inserted)
            }

            async fn series(
                &self,
                ticker: &str,
                interval: &str,
            ) -> $crate::error::Result<$crate::domain::SeriesMeta> {
                let sql = format!(
                    "SELECT {} FROM series WHERE ticker = $1 AND bar_interval = $2",
                    $crate::store::rows::SERIES_COLUMNS
                );
                sqlx::query_as::<_, $crate::store::rows::SeriesRow>(sqlx::AssertSqlSafe(sql))
                    .bind(ticker)
                    .bind(interval)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Into::into)
                    .ok_or_else(|| {
                        $crate::error::DetectError::NotFound(format!(
                            "ticker: no {interval} series for ticker {ticker:?}; ingest bars first"
                        ))
                    })
            }

            async fn newest_bar(&self, series_id: i64) -> $crate::error::Result<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT MAX(ts) FROM bars WHERE series_id = $1")
                    .bind(series_id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn load_window(
                &self,
                series_id: i64,
                after: Option<i64>,
                history: usize,
            ) -> $crate::error::Result<Vec<joust_models::features::Bar>> {
                use $crate::store::rows::BarRow;
                let mut conn = self.pool.acquire().await?;
                let mut bars: Vec<joust_models::features::Bar> = Vec::new();
                let after = match after {
                    Some(after) => {
                        let mut past = sqlx::query_as::<_, BarRow>(
                            "SELECT ts, open, high, low, close, volume FROM bars
                             WHERE series_id = $1 AND ts <= $2 ORDER BY ts DESC LIMIT $3",
                        )
                        .bind(series_id)
                        .bind(after)
                        .bind(i64::try_from(history).unwrap_or(i64::MAX))
                        .fetch_all(&mut *conn)
                        .await?;
                        past.reverse();
                        bars.extend(past.into_iter().map(joust_models::features::Bar::from));
                        after
                    }
                    None => i64::MIN,
                };
                let new = sqlx::query_as::<_, BarRow>(
                    "SELECT ts, open, high, low, close, volume FROM bars
                     WHERE series_id = $1 AND ts > $2 ORDER BY ts",
                )
                .bind(series_id)
                .bind(after)
                .fetch_all(&mut *conn)
                .await?;
                bars.extend(new.into_iter().map(joust_models::features::Bar::from));
                Ok(bars)
            }

            async fn start_run(
                &self,
                trigger: $crate::domain::Trigger,
                ticker: &str,
                interval: &str,
                model_name: &str,
                at_ms: i64,
            ) -> $crate::error::Result<$crate::domain::Run> {
                // One round trip: the new row comes back with RETURNING.
                let sql = format!(
                    "INSERT INTO detection_runs (run_trigger, ticker, bar_interval, model_name, started_at_ms, status)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {}",
                    $crate::store::rows::RUN_COLUMNS
                );
                sqlx::query_as::<_, $crate::store::rows::RunRow>(sqlx::AssertSqlSafe(sql))
                    .bind(trigger.as_str())
                    .bind(ticker)
                    .bind(interval)
                    .bind(model_name)
                    .bind(at_ms)
                    .bind($crate::domain::RunStatus::InProgress.as_str())
                    .fetch_one(&self.pool)
                    .await?
                    .try_into()
            }

            async fn complete_run(
                &self,
                run_id: i64,
                series: &$crate::domain::SeriesMeta,
                detected_to: Option<i64>,
                outcome: &$crate::domain::RunOutcome,
                anomalies: &[$crate::domain::NewAnomaly],
                at_ms: i64,
            ) -> $crate::error::Result<($crate::domain::Run, Vec<$crate::domain::Anomaly>)> {
                let now = at_ms;
                let mut tx = self.begin_write().await?;
                let moved = sqlx::query(
                    "UPDATE series SET last_detected_ts = $1, model_version = $2
                     WHERE id = $3 AND COALESCE(last_detected_ts, $4) = $5",
                )
                .bind(detected_to)
                .bind(&outcome.model_version)
                .bind(series.id)
                .bind(i64::MIN)
                .bind(series.last_detected_ts.unwrap_or(i64::MIN))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved != 1 {
                    return Err($crate::error::DetectError::Aborted(format!(
                        "ticker: another detection of {} {} committed first; retry",
                        series.ticker, series.interval
                    )));
                }
                let (run, stored) =
                    Self::store_results(&mut tx, run_id, series, outcome, anomalies, now).await?;
                tx.commit().await?;
                Ok((run, stored))
            }

            async fn fail_run(
                &self,
                run_id: i64,
                error: &str,
                at_ms: i64,
            ) -> $crate::error::Result<$crate::domain::Run> {
                let mut conn = self.pool.acquire().await?;
                sqlx::query(
                    "UPDATE detection_runs SET status = $1, error = $2, completed_at_ms = $3
                     WHERE id = $4 AND status = $5",
                )
                .bind($crate::domain::RunStatus::Failed.as_str())
                .bind(error)
                .bind(at_ms)
                .bind(run_id)
                .bind($crate::domain::RunStatus::InProgress.as_str())
                .execute(&mut *conn)
                .await?;
                Self::run_row(&mut conn, run_id).await
            }

            async fn get_run(&self, id: i64) -> $crate::error::Result<$crate::domain::Run> {
                let mut conn = self.pool.acquire().await?;
                Self::run_row(&mut conn, id).await
            }

            async fn list_runs(
                &self,
                filter: &$crate::domain::RunFilter,
            ) -> $crate::error::Result<Vec<$crate::domain::Run>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM detection_runs WHERE 1 = 1",
                    $crate::store::rows::RUN_COLUMNS
                ));
                if let Some(t) = &filter.ticker {
                    qb.push(" AND ticker = ").push_bind(t.clone());
                }
                if let Some(iv) = &filter.interval {
                    qb.push(" AND bar_interval = ").push_bind(iv.clone());
                }
                if filter.before_id > 0 {
                    qb.push(" AND id < ").push_bind(filter.before_id);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit));
                let mut conn = self.pool.acquire().await?;
                let mut runs = qb
                    .build_query_as::<$crate::store::rows::RunRow>()
                    .fetch_all(&mut *conn)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::error::Result<Vec<$crate::domain::Run>>>()?;
                Self::attach_anomaly_ids(&mut conn, &mut runs).await?;
                Ok(runs)
            }

            async fn list_anomalies(
                &self,
                filter: &$crate::domain::AnomalyFilter,
            ) -> $crate::error::Result<Vec<$crate::domain::Anomaly>> {
                let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM anomalies WHERE id > ",
                    $crate::store::rows::ANOMALY_COLUMNS
                ));
                qb.push_bind(filter.after_id);
                if let Some(t) = &filter.ticker {
                    qb.push(" AND ticker = ").push_bind(t.clone());
                }
                if let Some(iv) = &filter.interval {
                    qb.push(" AND bar_interval = ").push_bind(iv.clone());
                }
                if let Some(from) = filter.from {
                    qb.push(" AND ts >= ").push_bind(from);
                }
                if let Some(to) = filter.to {
                    qb.push(" AND ts <= ").push_bind(to);
                }
                if let Some(min) = filter.min_score {
                    qb.push(" AND score >= ").push_bind(f64::from(min));
                }
                if let Some(v) = &filter.model_version {
                    qb.push(" AND model_version = ").push_bind(v.clone());
                }
                if let Some(t) = filter.anomaly_type {
                    qb.push(
                        " AND EXISTS (SELECT 1 FROM anomaly_matches m WHERE m.anomaly_id = anomalies.id \
                         AND m.anomaly_type = ",
                    )
                    .push_bind(t.as_str())
                    .push(")");
                }
                if let Some(w) = filter.whitelisted {
                    qb.push(" AND whitelisted = ").push_bind(w);
                }
                if let Some(run) = filter.run_id {
                    qb.push(" AND run_id = ").push_bind(run);
                }
                qb.push(" ORDER BY id LIMIT ").push_bind(i64::from(filter.limit));
                let mut conn = self.pool.acquire().await?;
                let mut list = qb
                    .build_query_as::<$crate::store::rows::AnomalyRow>()
                    .fetch_all(&mut *conn)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect::<$crate::error::Result<Vec<$crate::domain::Anomaly>>>()?;
                Self::load_matches(&mut conn, &mut list).await?;
                Ok(list)
            }

            async fn get_anomaly(&self, id: i64) -> $crate::error::Result<$crate::domain::Anomaly> {
                let sql = format!(
                    "SELECT {} FROM anomalies WHERE id = $1",
                    $crate::store::rows::ANOMALY_COLUMNS
                );
                let mut conn = self.pool.acquire().await?;
                let anomaly: $crate::domain::Anomaly =
                    sqlx::query_as::<_, $crate::store::rows::AnomalyRow>(sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?
                        .ok_or_else(|| {
                            $crate::error::DetectError::NotFound(format!(
                                "anomaly_id: anomaly {id} not found"
                            ))
                        })?
                        .try_into()?;
                let mut one = [anomaly];
                Self::load_matches(&mut conn, &mut one).await?;
                let [anomaly] = one;
                Ok(anomaly)
            }

            async fn bars_until(
                &self,
                series_id: i64,
                ts: i64,
                count: usize,
            ) -> $crate::error::Result<Vec<joust_models::features::Bar>> {
                let mut rows = sqlx::query_as::<_, $crate::store::rows::BarRow>(
                    "SELECT ts, open, high, low, close, volume FROM bars
                     WHERE series_id = $1 AND ts <= $2 ORDER BY ts DESC LIMIT $3",
                )
                .bind(series_id)
                .bind(ts)
                .bind(i64::try_from(count).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                rows.reverse();
                Ok(rows.into_iter().map(joust_models::features::Bar::from).collect())
            }

            async fn purge_runs(&self, before_ms: i64) -> $crate::error::Result<u64> {
                Ok(sqlx::query(
                    "DELETE FROM detection_runs WHERE status <> $1 AND completed_at_ms < $2",
                )
                .bind($crate::domain::RunStatus::InProgress.as_str())
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn purge_anomalies(&self, before_ms: i64) -> $crate::error::Result<u64> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "DELETE FROM anomaly_matches WHERE anomaly_id IN
                     (SELECT id FROM anomalies WHERE created_at_ms < $1)",
                )
                .bind(before_ms)
                .execute(&mut *tx)
                .await?;
                let n = sqlx::query("DELETE FROM anomalies WHERE created_at_ms < $1")
                    .bind(before_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn fail_stale_runs(
                &self,
                started_before_ms: i64,
                error: &str,
                at_ms: i64,
            ) -> $crate::error::Result<u64> {
                // A backfill job's run is the job's: its lease decides.
                Ok(sqlx::query(
                    "UPDATE detection_runs SET status = $1, error = $2, completed_at_ms = $3
                     WHERE status = $4 AND started_at_ms < $5
                     AND NOT EXISTS (SELECT 1 FROM backfill_jobs j WHERE j.run_id = detection_runs.id
                                     AND j.status IN ('pending', 'processing', 'retrying'))",
                )
                .bind($crate::domain::RunStatus::Failed.as_str())
                .bind(error)
                .bind(at_ms)
                .bind($crate::domain::RunStatus::InProgress.as_str())
                .bind(started_before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected())
            }

            async fn ping(&self) -> $crate::error::Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }
    };
}
