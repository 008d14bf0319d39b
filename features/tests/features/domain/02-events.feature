Feature: The five events and their effect on a pot

  Background:
    Given the retail estate

  @domain-2
  Scenario: A delivery line adds to the quantity and sets lastUpdated
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When "WH01" receives a delivery of 5 "p1" at "2024-12-07T09:30:00"
    Then the stock of "p1" at "WH01" is 15.0, last updated "2024-12-07T09:30:00"

  @domain-2
  Scenario: A sale within the stock on hand takes it from the quantity
    Given "Store-001" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When "Store-001" sells 4 "p1" at "2024-12-07T12:00:00"
    Then the stock of "p1" at "Store-001" is 6.0, last updated "2024-12-07T12:00:00"

  @domain-2
  Scenario: A sale beyond the stock on hand zeroes it and moves the shortfall to pending
    Given "Store-001" received a delivery of 3 "p1" at "2024-12-07T08:00:00"
    When "Store-001" sells 5 "p1" at "2024-12-07T12:00:00"
    Then the stock of "p1" at "Store-001" is 0.0, pending -2.0, last updated "2024-12-07T12:00:00"

  @domain-2
  Scenario: Stock 0, sell 1, deliver 10: quantity 10, pending -1
    When "Store-001" sells 1 "p1" at "2024-12-07T08:00:00"
    And "Store-001" receives a delivery of 10 "p1" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "Store-001" is 10.0, pending -1.0, last updated "2024-12-07T09:00:00"

  @domain-2
  Scenario: Shortfalls accumulate and nothing clears pending
    When "Store-001" sells 2 "p1" at "2024-12-07T08:00:00"
    And "Store-001" sells 3 "p1" at "2024-12-07T09:00:00"
    And "Store-001" receives a delivery of 10 "p1" at "2024-12-07T10:00:00"
    And "p1" at "Store-001" is counted at 4 at "2024-12-07T11:00:00"
    Then the stock of "p1" at "Store-001" is 4.0, pending -5.0, last updated "2024-12-07T11:00:00"

  @domain-2
  Scenario: A negative sale is a return and never takes the shortfall branch
    Given "Store-001" sold 1 "p1" at "2024-12-07T08:00:00"
    When "Store-001" sells -3 "p1" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "Store-001" is 3.0, pending -1.0, last updated "2024-12-07T09:00:00"

  @domain-2 @domain-6
  Scenario: A move takes from the source and adds to the destination, both at movedAt
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When 4 "p1" are moved from "WH01" to "Store-001" at "2024-12-07T09:15:00"
    Then the stock of "p1" at "WH01" is 6.0, last updated "2024-12-07T09:15:00"
    And the stock of "p1" at "Store-001" is 4.0, last updated "2024-12-07T09:15:00"

  @domain-2 @domain-6
  Scenario: A negative move is not rejected: the source gains and the destination loses
    Given "Store-001" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When -4 "p1" are moved from "WH01" to "Store-001" at "2024-12-07T09:00:00"
    Then the stock of "p1" at "WH01" is 4.0, last updated "2024-12-07T09:00:00"
    And the stock of "p1" at "Store-001" is 6.0, last updated "2024-12-07T09:00:00"

  @domain-2 @domain-7
  Scenario: A count sets the quantity absolutely and keeps pending
    Given "Store-001" sold 5 "p1" at "2024-12-07T08:00:00"
    When "p1" at "Store-001" is counted at 20 at "2024-12-07T09:00:00"
    Then the stock of "p1" at "Store-001" is 20.0, pending -5.0, last updated "2024-12-07T09:00:00"

  @domain-2 @domain-4 @domain-7
  Scenario: Counts may set negative quantities and totals simply sum them
    Given "Store-001" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When "p1" at "Central Store" is counted at -3.5 at "2024-12-07T09:00:00"
    Then the stock of "p1" at "Central Store" is -3.5, last updated "2024-12-07T09:00:00"
    And the total of "p1" at "London" is 6.5

  @domain-2
  Scenario Outline: Zero quantities are accepted everywhere but delivery lines: <path>
    Given "WH01" received a delivery of 10 "p1" at "2024-12-07T08:00:00"
    When I send POST <path> with:
      """
      <body>
      """
    Then the response status is 201
    And the stock of "p1" at "WH01" is <quantity>, last updated "2024-12-07T09:00:00"

    Examples:
      | path                               | body                                                                                                                   | quantity |
      | /locations/WH01/products/p1/sales  | {"requestId":"z1","quantity":0,"soldAt":"2024-12-07T09:00:00"}                                                         | 10.0     |
      | /locations/WH01/p1/movements       | {"requestId":"z2","destinationLocationId":"WH02","quantity":0,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"} | 10.0     |
      | /locations/WH01/products/p1/counts | {"requestId":"z3","reason":"AdminOverride","quantity":0,"countedAt":"2024-12-07T09:00:00"}                             | 0.0      |
