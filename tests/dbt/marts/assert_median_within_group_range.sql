{#
    Every median in rpt_median_follower_count_by_age_group lies between the smallest and the
    largest non-null follower count of its age group (pin joined to user). Returns offenders.
#}
with

pins_joined_to_users as (

    select
        age_group,
        follower_count
    from {{ ref('pins') }}
    where
        age_group is not null
        and follower_count is not null

),

median_follower_count_by_age_group as (

    select
        age_group,
        median_follower_count
    from {{ ref('rpt_median_follower_count_by_age_group') }}

),

group_ranges as (

    select
        age_group,
        min(follower_count) as min_follower_count,
        max(follower_count) as max_follower_count
    from pins_joined_to_users
    group by 1

),

out_of_range as (

    select
        median_follower_count_by_age_group.age_group,
        median_follower_count_by_age_group.median_follower_count,
        group_ranges.min_follower_count,
        group_ranges.max_follower_count
    from median_follower_count_by_age_group
    left join group_ranges
        on median_follower_count_by_age_group.age_group = group_ranges.age_group
    where
        group_ranges.age_group is null
        or median_follower_count_by_age_group.median_follower_count
        not between group_ranges.min_follower_count and group_ranges.max_follower_count

)

select * from out_of_range
